package dev.splitstream.protocol;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The only class that turns frames into bytes and back. Layout: a 20-byte big-endian header (version u8, type u8, flags
 * u8, reserved u8, stream id u32, sequence u64, body length u32) followed by the body; see docs/PROTOCOL.md.
 *
 * <p>Decoding checks every length against {@link Limits} before allocating anything and reports every kind of bad
 * input as a {@link ProtocolException}. DATA payloads are returned as slices of the input, not copies (except
 * compressed ones, see {@link #withDeflate(Deflate)}, which are inflated into a new buffer of at most
 * {@link Limits#maxPayload()} bytes).
 *
 * <p>HELLO and CLOSE have a layout that is frozen across protocol versions and are always written with header version
 * {@link #HANDSHAKE_VERSION}, so that any two implementations can negotiate a version, or refuse each other with a
 * readable reason. Every other frame is written with {@link #version()} and must arrive with a version this codec
 * speaks.
 *
 * <p>A session codec of a leg whose handshake agreed to {@link Capabilities#ENCRYPTED} ({@link #forSession}) seals
 * every session frame it encodes into a SEALED envelope and accepts nothing else ({@link FrameProtection}); it belongs
 * to that one leg.
 *
 * <p>Encoding never changes a DATA payload's position or limit (a session may send the same frame again after a
 * reconnect). Instances without compression or protection are immutable and thread-safe.
 */
public final class FrameCodec {
    /** Size of the fixed header in bytes. */
    public static final int HEADER_LENGTH = 20;

    /** Protocol versions this implementation speaks. */
    public static final int MIN_VERSION = 2;

    /** Protocol versions this implementation speaks. */
    public static final int MAX_VERSION = 2;

    /** Header version of HELLO and CLOSE frames, whatever the negotiated version (their layout never changes). */
    public static final int HANDSHAKE_VERSION = 1;

    /** Flag bit 0: the sender half-closes the stream after this DATA frame. */
    public static final int FLAG_FIN = 0x01;

    /** Flag bit 1: the DATA payload is deflated (only when {@link Capabilities#DEFLATE} was agreed). */
    public static final int FLAG_COMPRESSED = 0x02;

    /** Length of hello and challenge nonces. */
    public static final int NONCE_LENGTH = 32;

    /** Length of session ids. */
    public static final int SESSION_ID_LENGTH = 16;

    /** Length of HMAC-SHA256 proofs. */
    public static final int MAC_LENGTH = 32;

    /** Largest stream id (ids are u32 on the wire but limited to 31 bits). */
    public static final int MAX_STREAM_ID = Integer.MAX_VALUE;

    private static final int HELLO_FIXED = 1 + 1 + 1 + 1 + 4 + 8 + 8 + NONCE_LENGTH;
    private static final int CHALLENGE_LENGTH = 1 + 4 + NONCE_LENGTH;
    private static final int WELCOME_LENGTH = SESSION_ID_LENGTH + 8 + 4 + 4 + MAC_LENGTH;

    private static final FrameType[] TYPES = new FrameType[256];

    static {
        for (FrameType t : FrameType.values()) {
            TYPES[t.code] = t;
        }
    }

    private static final ThreadLocal<java.util.zip.Inflater> INFLATER =
            ThreadLocal.withInitial(java.util.zip.Inflater::new);
    private static final ThreadLocal<byte[]> INFLATE_BUFFER = ThreadLocal.withInitial(() -> new byte[0]);
    private static final ThreadLocal<java.util.zip.Deflater> DEFLATER =
            ThreadLocal.withInitial(java.util.zip.Deflater::new);

    private final Limits limits;
    private final int version;
    private final Deflate deflate;
    private final CompressionVerdicts verdicts;
    private long deflatedPayloadBytes;
    private final FrameProtection protection;

    /** A codec enforcing the given limits, writing frames with {@link #MAX_VERSION}. */
    public FrameCodec(Limits limits) {
        this(limits, MAX_VERSION);
    }

    /**
     * A codec enforcing the given limits, writing non-handshake frames with {@code version} (the version a handshake
     * negotiated).
     */
    public FrameCodec(Limits limits, int version) {
        this(limits, version, null, null);
    }

    private FrameCodec(Limits limits, int version, Deflate deflate, FrameProtection protection) {
        if (version < MIN_VERSION || version > MAX_VERSION) {
            throw new IllegalArgumentException("version " + version + " is not in " + MIN_VERSION + ".." + MAX_VERSION);
        }
        this.limits = java.util.Objects.requireNonNull(limits, "limits");
        this.version = version;
        this.deflate = deflate;
        this.verdicts = deflate == null ? null : new CompressionVerdicts();
        this.protection = protection;
    }

    /**
     * The codec for a connection (a leg) once its handshake completed: writes the negotiated version; when both sides
     * agreed to {@link Capabilities#DEFLATE} and {@code deflate} is not null, compresses and accepts compressed DATA;
     * when they agreed to {@link Capabilities#ENCRYPTED}, seals every session frame and accepts only sealed ones, with
     * this leg's keys. Such a codec belongs to its leg: make one per connection.
     */
    public static FrameCodec forSession(Limits limits, HandshakeResult established, Deflate deflate) {
        boolean agreed = (established.capabilities() & Capabilities.DEFLATE) != 0 && deflate != null;
        FrameProtection protection =
                established.frameKeys() == null ? null : new FrameProtection(established.frameKeys());
        return new FrameCodec(limits, established.version(), agreed ? deflate : null, protection);
    }

    /** At least this many envelopes are sealed and opened by {@link #warmUp}: past the JIT's thresholds for C2. */
    public static final int WARM_UP_MIN_FRAMES = 20_000;

    /** At most this many (about 2 CPU-seconds at the plain-Java speed): the warm-up always ends. */
    public static final int WARM_UP_MAX_FRAMES = 200_000;

    /** A 16 KiB frame sealed and opened within this much thread CPU time ran on the intrinsics (about 20 us there). */
    static final long WARM_UP_FAST_NANOS = 100_000;

    /**
     * Seals and opens throwaway frames (mostly small, some empty, some of one whole read; into heap and direct buffers,
     * opened in place in both, of every length modulo 16) under random keys, so that the JIT compiles the sealing and
     * opening paths with the JDK's AES and GHASH intrinsics before the first session needs them. Goes on after
     * {@code minFrames} until the last eight 16 KiB frames each took under {@link #WARM_UP_FAST_NANOS} of CPU, and
     * stops after {@code maxFrames} in any case. Returns the number of frames that went through.
     *
     * <p>Why: on JDK 17 an AES-GCM decryption does all its work in one {@code doFinal}, and the GHASH intrinsic is used
     * only once its caller is compiled by C2, which takes thousands of calls. With 16-64 KiB frames that is hundreds of
     * MiB sealed or opened by the plain-Java GHASH at about 70 MiB per CPU-second, against 3-4 GiB with the intrinsic
     * (and a branch the compiled code never saw, such as a length that is a whole number of blocks, sends it back to the
     * interpreter): a fresh node carried bulk data at a few dozen MiB/s for its first seconds, and for much longer on a
     * loaded machine, where the JIT's threads get little CPU. Small frames pass the thresholds in a fraction of that.
     */
    public static int warmUp(int minFrames, int maxFrames) {
        java.security.SecureRandom random = new java.security.SecureRandom();
        byte[] a = new byte[32];
        byte[] b = new byte[32];
        random.nextBytes(a);
        random.nextBytes(b);
        Limits limits = Limits.defaults();
        FrameCodec sender = new FrameCodec(
                limits, MAX_VERSION, null, new FrameProtection(new FrameKeys(new Secret(a), new Secret(b))));
        FrameCodec receiver = new FrameCodec(
                limits, MAX_VERSION, null, new FrameProtection(new FrameKeys(new Secret(b), new Secret(a))));
        int large = 16 * 1024;
        ByteBuffer payload = ByteBuffer.allocate(large);
        ByteBuffer direct = ByteBuffer.allocateDirect(large + FrameProtection.OVERHEAD + HEADER_LENGTH);
        Allocator intoDirect = bytes -> direct.clear();
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        boolean timed = cpu.isCurrentThreadCpuTimeSupported();
        int fastInARow = 0;
        int done = 0;
        try {
            for (int i = 1; i <= maxFrames; i++) {
                // Every length modulo the AES block size: a branch the JIT never saw taken deoptimizes the compiled
                // code, and the JDK's GCM code branches on whether a length is a whole number of blocks.
                boolean whole = i % 64 < 2;
                int size = whole ? large - (i >> 6) % 16 : i * 7 % 200;
                Frame frame = i % 4 == 3
                        ? new Frame.WindowUpdate(1, i, size + 1)
                        : new Frame.Data(1, i, payload.slice(0, size), false);
                long before = whole && timed ? cpu.getCurrentThreadCpuTime() : 0;
                ByteBuffer sealed = i % 2 == 0 ? sender.encode(frame, intoDirect) : sender.encode(frame);
                receiver.decodeMessage(sealed);
                done++;
                if (whole && timed) {
                    boolean fast = cpu.getCurrentThreadCpuTime() - before < WARM_UP_FAST_NANOS;
                    fastInARow = fast ? fastInARow + 1 : 0;
                }
                if (i >= minFrames && (fastInARow >= 8 || !timed)) {
                    break;
                }
            }
        } catch (ProtocolException e) {
            throw new IllegalStateException("warming up frame protection failed", e);
        }
        return done;
    }

    /**
     * Starts {@link #warmUp} on a daemon thread (a node calls it at start-up when frames are sealed), so that start-up
     * does not wait for it.
     */
    public static void warmUpInBackground() {
        Thread t = new Thread(() -> warmUp(WARM_UP_MIN_FRAMES, WARM_UP_MAX_FRAMES), "splitstream-cipher-warm-up");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
    }

    /** This leg's frame protection, or null when frames travel unprotected. */
    public FrameProtection protection() {
        return protection;
    }

    /**
     * A copy that accepts DATA frames with the COMPRESSED flag (inflating them, bounded by {@link Limits#maxPayload()})
     * and whose {@link #encode(Frame)} compresses DATA payloads as {@code deflate} says, except on streams whose data
     * does not compress (see {@link CompressionVerdicts}): such a codec keeps per-stream state and belongs to one
     * connection, used from one thread. Only for connections whose handshake agreed to {@link Capabilities#DEFLATE}.
     */
    public FrameCodec withDeflate(Deflate deflate) {
        return new FrameCodec(limits, version, java.util.Objects.requireNonNull(deflate, "deflate"), protection);
    }

    /** DATA payload bytes this codec encoded deflated so far (their uncompressed length). */
    public long deflatedPayloadBytes() {
        return deflatedPayloadBytes;
    }

    /** The compression settings, or null when this codec neither compresses nor accepts compressed frames. */
    public Deflate deflate() {
        return deflate;
    }

    /** The limits this codec enforces. */
    public Limits limits() {
        return limits;
    }

    /** The header version this codec writes on non-handshake frames. */
    public int version() {
        return version;
    }

    // ---------------------------------------------------------------- encoding

    /**
     * The exact number of bytes {@link #encode(Frame, ByteBuffer)} writes for this frame (without protection or
     * compression).
     */
    public int encodedLength(Frame frame) {
        return HEADER_LENGTH + bodyLength(frame);
    }

    /** True for the frames a protected leg seals: everything but the four handshake frames. */
    static boolean sessionFrame(Frame frame) {
        return switch (frame.type()) {
            case HELLO, CHALLENGE, PROOF, WELCOME -> false;
            default -> true;
        };
    }

    /** Length of the body (everything after the header) of this frame. */
    public static int bodyLength(Frame frame) {
        return switch (frame.type()) {
            case HELLO -> {
                Frame.Hello h = (Frame.Hello) frame;
                yield HELLO_FIXED + lengthOf(h.sessionId()) + utf8Length(h.tokenId());
            }
            case CHALLENGE -> CHALLENGE_LENGTH;
            case PROOF -> MAC_LENGTH;
            case WELCOME -> WELCOME_LENGTH;
            case OPEN -> 2 + 4 + utf8Length(((Frame.Open) frame).host());
            case ACCEPT, WINDOW_UPDATE -> 4;
            case DATA -> ((Frame.Data) frame).payload().remaining();
            case ACK, PING, PONG -> 8;
            case RESET -> 2 + utf8Length(((Frame.Reset) frame).message());
            case CLOSE -> 2 + utf8Length(((Frame.Close) frame).message());
            case EXPOSE -> {
                Frame.Expose e = (Frame.Expose) frame;
                int n = 1 + utf8Length(e.agent()) + 2;
                for (Frame.ExposedService s : e.services()) {
                    n += 1 + 2 + utf8Length(s.name()) + utf8Length(s.target());
                }
                if (!e.routeToken().isEmpty()) {
                    n += utf8Length(e.routeToken());
                }
                yield n;
            }
            case EXPOSE_RESULT -> {
                int n = 2;
                for (Frame.Grant g : ((Frame.ExposeResult) frame).grants()) {
                    n += 1 + 2 + utf8Length(g.name()) + utf8Length(g.detail());
                }
                yield n;
            }
            case ROUTE_LOG -> routeLogLength((Frame.RouteLog) frame);
            case ROUTE_LOGS -> {
                int n = 2;
                for (Frame.RouteLog r : ((Frame.RouteLogs) frame).reports()) {
                    n += routeLogLength(r);
                }
                yield n;
            }
        };
    }

    private static int routeLogLength(Frame.RouteLog r) {
        return ROUTE_LOG_FIXED + utf8Length(r.service()) + utf8Length(r.method()) + utf8Length(r.path());
    }

    /** The fixed part of a ROUTE_LOG body: via, status, skipped, latency, bytes in, bytes out. */
    private static final int ROUTE_LOG_FIXED = 1 + 2 + 4 + 8 + 8 + 8;

    /**
     * True when {@code method} is a valid method for {@link Frame.RouteLog}: an RFC 9110 token
     * ({@code [A-Za-z0-9!#$%&'*+.^_`|~-]}) of 1..{@value Frame.RouteLog#MAX_METHOD} characters. Checked for every routed
     * request on both nodes, so by hand rather than with a regular expression.
     */
    public static boolean isMethod(String method) {
        if (method == null || method.isEmpty() || method.length() > Frame.RouteLog.MAX_METHOD) {
            return false;
        }
        for (int i = 0; i < method.length(); i++) {
            char c = method.charAt(i);
            if (!(isAsciiLetterOrDigit(c) || "!#$%&'*+.^_`|~-".indexOf(c) >= 0)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isAsciiLetterOrDigit(char c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9';
    }

    private static boolean isLowerLabelChar(char c) {
        return c >= 'a' && c <= 'z' || c >= '0' && c <= '9';
    }

    /** Flag bit of an EXPOSE body: the agent releases its services. */
    private static final int EXPOSE_RELEASE = 0x01;

    /**
     * True when {@code name} is a valid service name for {@link Frame.ExposedService}: a DNS label of 1..63 characters
     * ({@code [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?}). Checked for every routed request, so by hand.
     */
    public static boolean isServiceName(String name) {
        if (name == null || name.isEmpty() || name.length() > 63) {
            return false;
        }
        int last = name.length() - 1;
        for (int i = 0; i <= last; i++) {
            char c = name.charAt(i);
            if (!(isLowerLabelChar(c) || c == '-' && i > 0 && i < last)) {
                return false;
            }
        }
        return true;
    }

    /** True when {@code name} is a valid agent name for {@link Frame.Expose}: 1..64 of {@code A-Z a-z 0-9 . _ -}. */
    public static boolean isAgentName(String name) {
        if (name == null || name.isEmpty() || name.length() > 64) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(isAsciiLetterOrDigit(c) || c == '.' || c == '_' || c == '-')) {
                return false;
            }
        }
        return true;
    }

    /** Where {@link #encode(Frame, Allocator)} writes a frame: a caller's buffer instead of a new heap one. */
    @FunctionalInterface
    public interface Allocator {
        /** Called once per encoded frame: a buffer with at least {@code bytes} remaining, written from its position. */
        ByteBuffer allocate(int bytes);
    }

    private static final Allocator HEAP = ByteBuffer::allocate;

    /**
     * Encodes a frame into a new heap buffer, flipped for reading. With {@link #withDeflate} a DATA payload of at least
     * the threshold is compressed when that makes it smaller; on a protected leg a session frame is sealed (the only
     * encoding methods that compress or seal).
     */
    public ByteBuffer encode(Frame frame) {
        return encode(frame, HEAP);
    }

    /**
     * As {@link #encode(Frame)}, into the one buffer {@code allocator} gives (a transport's pooled direct buffer, so the
     * sealed bytes are not copied once more on their way to the socket). Returns that buffer with its position where
     * the frame starts and its limit where it ends.
     */
    public ByteBuffer encode(Frame frame, Allocator allocator) {
        if (protection == null || !sessionFrame(frame)) {
            ByteBuffer compressed = frame instanceof Frame.Data d ? tryCompress(d) : null;
            if (compressed != null && allocator == HEAP) {
                return compressed;
            }
            ByteBuffer out = allocator.allocate(compressed != null ? compressed.remaining() : encodedLength(frame));
            int start = out.position();
            if (compressed != null) {
                out.put(compressed);
            } else {
                writePlain(frame, out);
            }
            return out.limit(out.position()).position(start);
        }
        if (frame instanceof Frame.Data d) {
            ByteBuffer compressed = tryCompress(d);
            if (compressed != null) {
                return protection.seal(compressed, null, version, allocator);
            }
            ByteBuffer head = ByteBuffer.allocate(HEADER_LENGTH);
            writeHeader(frame, head);
            return protection.seal(head.flip(), d.payload(), version, allocator);
        }
        return protection.seal(encodePlain(frame), null, version, allocator);
    }

    private ByteBuffer encodePlain(Frame frame) {
        ByteBuffer out = ByteBuffer.allocate(encodedLength(frame));
        writePlain(frame, out);
        return out.flip();
    }

    /** The compressed encoding of a DATA frame when this codec compresses and it pays off, else null. */
    private ByteBuffer tryCompress(Frame.Data d) {
        if (deflate != null
                && !d.plain()
                && d.payload().remaining() >= deflate.threshold()
                && verdicts.shouldTry(d.streamId())) {
            ByteBuffer compressed = compressed(d);
            int length = d.payload().remaining();
            verdicts.record(d.streamId(), length, compressed == null ? -1 : compressed.remaining() - HEADER_LENGTH);
            if (compressed != null) {
                deflatedPayloadBytes += length;
            }
            return compressed;
        }
        return null;
    }

    /** The whole compressed frame, or null when compression would not make it smaller. */
    private ByteBuffer compressed(Frame.Data d) {
        int length = d.payload().remaining();
        java.util.zip.Deflater deflater = DEFLATER.get();
        deflater.reset();
        deflater.setLevel(deflate.level());
        deflater.setInput(d.payload().duplicate());
        deflater.finish();
        ByteBuffer out = ByteBuffer.allocate(HEADER_LENGTH + length);
        out.position(HEADER_LENGTH);
        while (!deflater.finished()) {
            if (!out.hasRemaining()) {
                return null; // not smaller
            }
            deflater.deflate(out);
        }
        int body = out.position() - HEADER_LENGTH;
        if (body >= length) {
            return null;
        }
        out.put(0, (byte) version);
        out.put(1, (byte) FrameType.DATA.code);
        out.put(2, (byte) (FLAG_COMPRESSED | (d.fin() ? FLAG_FIN : 0)));
        out.put(3, (byte) 0);
        out.putInt(4, d.streamId());
        out.putLong(8, d.seq());
        out.putInt(16, body);
        return out.flip();
    }

    /**
     * Encodes a frame at {@code out}'s position, advancing it, unprotected and uncompressed.
     *
     * @throws IllegalStateException for a session frame on a protected leg (use {@link #encode(Frame)})
     */
    public void encode(Frame frame, ByteBuffer out) {
        if (protection != null && sessionFrame(frame)) {
            throw new IllegalStateException("a protected leg seals " + frame.type() + " frames: use encode(Frame)");
        }
        writePlain(frame, out);
    }

    private void writePlain(Frame frame, ByteBuffer out) {
        writeHeader(frame, out);
        if (frame instanceof Frame.Data d) {
            out.put(d.payload().duplicate());
        }
    }

    /**
     * Encodes everything of a frame except a DATA payload at {@code out}'s position, advancing it: for DATA only the
     * header, whose length field counts the payload. Lets a transport send the header and the payload buffer as two
     * pieces of one message without copying the payload.
     */
    public void encodeHeader(Frame frame, ByteBuffer out) {
        if (protection != null && sessionFrame(frame)) {
            throw new IllegalStateException("a protected leg seals " + frame.type() + " frames: use encode(Frame)");
        }
        writeHeader(frame, out);
    }

    private void writeHeader(Frame frame, ByteBuffer out) {
        int body = bodyLength(frame);
        if (body > limits.maxPayload()) {
            throw new IllegalArgumentException(
                    frame.type() + " body of " + body + " bytes exceeds maxPayload " + limits.maxPayload());
        }
        int flags = 0;
        if (frame instanceof Frame.Data d && d.fin()) {
            flags |= FLAG_FIN;
        }
        int headerVersion = frame instanceof Frame.Hello || frame instanceof Frame.Close ? HANDSHAKE_VERSION : version;
        out.put((byte) headerVersion);
        out.put((byte) frame.type().code);
        out.put((byte) flags);
        out.put((byte) 0);
        out.putInt(frame.streamId());
        out.putLong(frame.seq());
        out.putInt(body);
        switch (frame.type()) {
            case HELLO -> {
                Frame.Hello h = (Frame.Hello) frame;
                requireLength("hello nonce", h.nonce(), NONCE_LENGTH);
                byte[] sid = h.sessionId() == null ? new byte[0] : h.sessionId();
                if (sid.length != 0 && sid.length != SESSION_ID_LENGTH) {
                    throw new IllegalArgumentException("session id must be empty or 16 bytes");
                }
                out.put(u8(h.minVersion()));
                out.put(u8(h.maxVersion()));
                out.put((byte) h.intent().code);
                out.put((byte) sid.length);
                out.putInt(h.capabilities());
                out.putLong(h.timestampMillis());
                out.putLong(h.lastReceivedSeq());
                out.put(h.nonce());
                out.put(sid);
                putString(out, h.tokenId());
            }
            case CHALLENGE -> {
                Frame.Challenge c = (Frame.Challenge) frame;
                requireLength("challenge nonce", c.nonce(), NONCE_LENGTH);
                out.put(u8(c.version()));
                out.putInt(c.capabilities());
                out.put(c.nonce());
            }
            case PROOF -> {
                Frame.Proof p = (Frame.Proof) frame;
                requireLength("proof", p.mac(), MAC_LENGTH);
                out.put(p.mac());
            }
            case WELCOME -> {
                Frame.Welcome w = (Frame.Welcome) frame;
                requireLength("session id", w.sessionId(), SESSION_ID_LENGTH);
                requireLength("server proof", w.serverMac(), MAC_LENGTH);
                out.put(w.sessionId());
                out.putLong(w.lastReceivedSeq());
                out.putInt(w.maxPayload());
                out.putInt(w.initialWindow());
                out.put(w.serverMac());
            }
            case OPEN -> {
                Frame.Open o = (Frame.Open) frame;
                out.putShort((short) u16(o.port()));
                out.putInt(o.window());
                putString(out, o.host());
            }
            case ACCEPT -> out.putInt(((Frame.Accept) frame).window());
            case DATA -> {}
            case WINDOW_UPDATE -> out.putInt(((Frame.WindowUpdate) frame).increment());
            case ACK -> out.putLong(((Frame.Ack) frame).ackedSeq());
            case RESET -> {
                Frame.Reset r = (Frame.Reset) frame;
                out.putShort((short) r.code().code);
                putString(out, r.message());
            }
            case PING -> out.putLong(((Frame.Ping) frame).opaque());
            case PONG -> out.putLong(((Frame.Pong) frame).opaque());
            case CLOSE -> {
                Frame.Close c = (Frame.Close) frame;
                out.putShort((short) c.code().code);
                putString(out, c.message());
            }
            case EXPOSE -> {
                Frame.Expose e = (Frame.Expose) frame;
                out.put((byte) (e.release() ? EXPOSE_RELEASE : 0));
                putString(out, e.agent());
                out.putShort((short) u16(e.services().size()));
                for (Frame.ExposedService s : e.services()) {
                    out.put(u8(s.kind().code));
                    out.putShort((short) u16(s.requestedPort()));
                    putString(out, s.name());
                    putString(out, s.target());
                }
                if (!e.routeToken().isEmpty()) {
                    putString(out, e.routeToken());
                }
            }
            case EXPOSE_RESULT -> {
                Frame.ExposeResult r = (Frame.ExposeResult) frame;
                out.putShort((short) u16(r.grants().size()));
                for (Frame.Grant g : r.grants()) {
                    out.put((byte) (g.granted() ? 0 : 1));
                    out.putShort((short) u16(g.publicPort()));
                    putString(out, g.name());
                    putString(out, g.detail());
                }
            }
            case ROUTE_LOG -> putRouteLog(out, (Frame.RouteLog) frame);
            case ROUTE_LOGS -> {
                java.util.List<Frame.RouteLog> reports = ((Frame.RouteLogs) frame).reports();
                if (reports.isEmpty() || reports.size() > Frame.RouteLogs.MAX_REPORTS) {
                    throw new IllegalArgumentException("ROUTE_LOGS holds " + reports.size() + " reports, 1.."
                            + Frame.RouteLogs.MAX_REPORTS + " allowed");
                }
                out.putShort((short) reports.size());
                for (Frame.RouteLog r : reports) {
                    putRouteLog(out, r);
                }
            }
        }
    }

    private static void putRouteLog(ByteBuffer out, Frame.RouteLog r) {
        checkRouteLog(r);
        out.put(u8(r.via().code));
        out.putShort((short) u16(r.status()));
        out.putInt((int) r.skipped());
        out.putLong(r.latencyMicros());
        out.putLong(r.bytesIn());
        out.putLong(r.bytesOut());
        putString(out, r.service());
        putString(out, r.method());
        putString(out, r.path());
    }

    /** What a sender may put in a ROUTE_LOG: exactly what {@link #decodeRouteLog} accepts. */
    private static void checkRouteLog(Frame.RouteLog r) {
        if (!isServiceName(r.service())
                || !isMethod(r.method())
                || routeLogPathProblem(r.path()) != null
                || r.status() < 0
                || r.status() > 999
                || r.status() > 0 && r.status() < 100
                || r.latencyMicros() < 0
                || r.bytesIn() < 0
                || r.bytesOut() < 0
                || r.skipped() < 0
                || r.skipped() > Frame.RouteLog.MAX_SKIPPED) {
            throw new IllegalArgumentException("ROUTE_LOG field out of range: " + r);
        }
    }

    /** Why {@code path} cannot be a ROUTE_LOG path, or null when it can. */
    private static String routeLogPathProblem(String path) {
        if (path == null || path.isEmpty() || path.charAt(0) != '/') {
            return "must start with '/'";
        }
        if (utf8Bytes(path) > Frame.RouteLog.MAX_PATH) {
            return "exceeds " + Frame.RouteLog.MAX_PATH + " bytes";
        }
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                return "has a control character";
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- decoding

    /**
     * Decodes exactly one frame that fills {@code message} (a WebSocket binary message carries one frame). Advances
     * {@code message}'s position to its limit. A DATA payload is a slice of {@code message}. On a protected leg the
     * envelope is opened in place: {@code message}'s bytes are overwritten with the frame it carried (unless read-only).
     *
     * @throws ProtocolException if the bytes are not exactly one valid frame
     */
    public Frame decodeMessage(ByteBuffer message) throws ProtocolException {
        int available = message.remaining();
        if (available < HEADER_LENGTH) {
            throw new ProtocolException(
                    "truncated frame: " + available + " bytes, the header alone is " + HEADER_LENGTH);
        }
        int start = message.position();
        int bodyLength = protection != null ? checkSealedHeader(message, start) : checkHeader(message, start);
        if (available != HEADER_LENGTH + bodyLength) {
            throw new ProtocolException(
                    available < HEADER_LENGTH + bodyLength
                            ? "truncated frame: header announces a " + bodyLength + "-byte body but only "
                                    + (available - HEADER_LENGTH) + " bytes follow"
                            : "message holds " + (available - HEADER_LENGTH - bodyLength)
                                    + " bytes after a frame; one frame per message");
        }
        Frame frame = protection != null
                ? openAndDecode(message, start, bodyLength)
                : decodeChecked(message, start, bodyLength);
        message.position(start + HEADER_LENGTH + bodyLength);
        return frame;
    }

    /**
     * Decodes the next frame from a byte stream (an HTTP body carrying many frames back to back). Returns null and
     * leaves {@code in}'s position unchanged when fewer bytes than one whole frame are available; otherwise advances
     * past the frame. A DATA payload is a slice of {@code in}. On a protected leg each envelope is opened in place: the
     * bytes it took from {@code in} are overwritten with the frame it carried (unless {@code in} is read-only).
     *
     * @throws ProtocolException on malformed input, as soon as the header shows it
     */
    public Frame decodeNext(ByteBuffer in) throws ProtocolException {
        if (in.remaining() < HEADER_LENGTH) {
            return null;
        }
        int start = in.position();
        int bodyLength = protection != null ? checkSealedHeader(in, start) : checkHeader(in, start);
        if (in.remaining() < HEADER_LENGTH + bodyLength) {
            return null;
        }
        // Past the envelope even when it is refused: a caller may skip a stale one and go on (HTTP retries).
        in.position(start + HEADER_LENGTH + bodyLength);
        return protection != null ? openAndDecode(in, start, bodyLength) : decodeChecked(in, start, bodyLength);
    }

    /** Validates the header of a SEALED envelope at {@code start} and returns its body length. */
    private int checkSealedHeader(ByteBuffer in, int start) throws ProtocolException {
        int headerVersion = in.get(start) & 0xFF;
        int typeCode = in.get(start + 1) & 0xFF;
        if (typeCode != FrameProtection.SEALED) {
            throw new ProtocolException(
                    CloseCode.AUTH_FAILED,
                    "unprotected frame of type 0x" + Integer.toHexString(typeCode)
                            + " on an encrypted leg: injected or altered on the path");
        }
        if (headerVersion != version) {
            throw new ProtocolException(
                    "SEALED frame has header version " + headerVersion + " on a version " + version + " session");
        }
        if (in.get(start + 2) != 0 || in.get(start + 3) != 0 || in.getInt(start + 4) != 0) {
            throw new ProtocolException("SEALED frame header has flags, reserved byte or stream id set");
        }
        if (in.getLong(start + 8) <= 0) {
            throw new ProtocolException(
                    "SEALED frame has counter " + Long.toUnsignedString(in.getLong(start + 8)) + ", must be 1..2^63-1");
        }
        long bodyLength = in.getInt(start + 16) & 0xFFFF_FFFFL;
        long max = (long) limits.maxPayload() + FrameProtection.OVERHEAD;
        if (bodyLength > max) {
            throw new ProtocolException(CloseCode.LIMIT_EXCEEDED, "frame length " + bodyLength + " exceeds " + max);
        }
        if (bodyLength < FrameProtection.OVERHEAD) {
            throw new ProtocolException("SEALED body of " + bodyLength + " bytes is shorter than a header and a tag");
        }
        return (int) bodyLength;
    }

    /** Opens the envelope at {@code start} and decodes the one session frame inside. */
    private Frame openAndDecode(ByteBuffer in, int start, int bodyLength) throws ProtocolException {
        ByteBuffer inner = protection.open(in, start, bodyLength);
        int innerBody = checkHeader(inner, 0);
        if (inner.remaining() != HEADER_LENGTH + innerBody) {
            throw new ProtocolException("SEALED envelope holds " + inner.remaining() + " bytes, its frame announces "
                    + (HEADER_LENGTH + innerBody));
        }
        FrameType type = TYPES[inner.get(1) & 0xFF];
        switch (type) {
            case HELLO, CHALLENGE, PROOF, WELCOME ->
                throw new ProtocolException(type + " frame inside a SEALED envelope");
            default -> {}
        }
        return decodeChecked(inner, 0, innerBody);
    }

    /** Validates the header at {@code start} (absolute reads) and returns the body length. */
    private int checkHeader(ByteBuffer in, int start) throws ProtocolException {
        int headerVersion = in.get(start) & 0xFF;
        int typeCode = in.get(start + 1) & 0xFF;
        int flags = in.get(start + 2) & 0xFF;
        int reserved = in.get(start + 3) & 0xFF;
        long bodyLength = in.getInt(start + 16) & 0xFFFF_FFFFL;
        FrameType type = TYPES[typeCode];
        if (typeCode == FrameProtection.SEALED) {
            throw new ProtocolException("SEALED frame but encryption was not agreed on this leg");
        }
        if (type == null) {
            throw new ProtocolException("unknown frame type 0x" + Integer.toHexString(typeCode));
        }
        if (type == FrameType.HELLO || type == FrameType.CLOSE) {
            if (headerVersion != HANDSHAKE_VERSION) {
                throw new ProtocolException(type + " frame has header version " + headerVersion + ", expected "
                        + HANDSHAKE_VERSION + " (its layout never changes)");
            }
        } else if (headerVersion < MIN_VERSION || headerVersion > MAX_VERSION) {
            throw new ProtocolException(
                    CloseCode.VERSION_MISMATCH,
                    "frame of protocol version " + headerVersion + " but this peer speaks " + MIN_VERSION + ".."
                            + MAX_VERSION + ": "
                            + (headerVersion > MAX_VERSION ? "upgrade this peer" : "upgrade the other peer"));
        }
        if (reserved != 0) {
            throw new ProtocolException("reserved header byte is " + reserved + ", must be 0");
        }
        int allowedFlags = type != FrameType.DATA ? 0 : deflate != null ? FLAG_FIN | FLAG_COMPRESSED : FLAG_FIN;
        if ((flags & ~allowedFlags) != 0) {
            if (type == FrameType.DATA
                    && (flags & FLAG_COMPRESSED) != 0
                    && (flags & ~(FLAG_FIN | FLAG_COMPRESSED)) == 0) {
                throw new ProtocolException("DATA frame has the COMPRESSED flag but compression was not agreed");
            }
            throw new ProtocolException(type + " frame has unknown flags 0x" + Integer.toHexString(flags));
        }
        if (bodyLength > limits.maxPayload()) {
            throw new ProtocolException(
                    CloseCode.LIMIT_EXCEEDED, "frame length " + bodyLength + " exceeds " + limits.maxPayload());
        }
        int streamId = in.getInt(start + 4);
        long seq = in.getLong(start + 8);
        boolean streamFrame =
                switch (type) {
                    case OPEN, ACCEPT, DATA, WINDOW_UPDATE, RESET -> true;
                    default -> false;
                };
        if (streamFrame) {
            if (streamId <= 0) {
                throw new ProtocolException(type + " frame has stream id " + Integer.toUnsignedString(streamId)
                        + ", must be 1.." + MAX_STREAM_ID);
            }
            if (seq <= 0) {
                throw new ProtocolException(
                        type + " frame has sequence number " + Long.toUnsignedString(seq) + ", must be positive");
            }
        } else {
            if (streamId != 0) {
                throw new ProtocolException(type + " frame has stream id " + Integer.toUnsignedString(streamId)
                        + ", session frames carry 0");
            }
            if (seq != 0) {
                throw new ProtocolException(type + " frame has sequence number " + Long.toUnsignedString(seq)
                        + ", unnumbered frames carry 0");
            }
        }
        int expected =
                switch (type) {
                    case CHALLENGE -> CHALLENGE_LENGTH;
                    case PROOF -> MAC_LENGTH;
                    case WELCOME -> WELCOME_LENGTH;
                    case ACCEPT, WINDOW_UPDATE -> 4;
                    case ACK, PING, PONG -> 8;
                    default -> -1;
                };
        if (expected >= 0 && bodyLength != expected) {
            throw new ProtocolException(type + " body must be " + expected + " bytes, header says " + bodyLength);
        }
        int minimum =
                switch (type) {
                    case HELLO -> HELLO_FIXED + 2;
                    case OPEN -> 8;
                    case RESET, CLOSE -> 4;
                    case EXPOSE -> 5;
                    case EXPOSE_RESULT -> 2;
                    case ROUTE_LOG -> ROUTE_LOG_FIXED + 3 * 3;
                    case ROUTE_LOGS -> 2 + ROUTE_LOG_FIXED + 3 * 3;
                    default -> 0;
                };
        if (bodyLength < minimum) {
            throw new ProtocolException(
                    type + " body must be at least " + minimum + " bytes, header says " + bodyLength);
        }
        return (int) bodyLength;
    }

    private Frame decodeChecked(ByteBuffer in, int start, int bodyLength) throws ProtocolException {
        FrameType type = TYPES[in.get(start + 1) & 0xFF];
        int flags = in.get(start + 2) & 0xFF;
        int streamId = in.getInt(start + 4);
        long seq = in.getLong(start + 8);
        int bodyStart = start + HEADER_LENGTH;
        ByteBuffer body = in.slice(bodyStart, bodyLength);
        try {
            Frame frame = decodeBody(type, flags, streamId, seq, body);
            if (body.hasRemaining()) {
                throw new ProtocolException(type + " body has " + body.remaining() + " unexpected trailing bytes");
            }
            return frame;
        } catch (BufferUnderflowException e) {
            throw new ProtocolException(type + " body is shorter than its fields");
        }
    }

    private Frame decodeBody(FrameType type, int flags, int streamId, long seq, ByteBuffer body)
            throws ProtocolException {
        switch (type) {
            case HELLO: {
                int min = body.get() & 0xFF;
                int max = body.get() & 0xFF;
                Frame.Intent intent = intent(body.get() & 0xFF);
                int sidLength = body.get() & 0xFF;
                if (sidLength != 0 && sidLength != SESSION_ID_LENGTH) {
                    throw new ProtocolException("HELLO session id length " + sidLength + ", must be 0 or 16");
                }
                if ((intent == Frame.Intent.NEW) != (sidLength == 0)) {
                    throw new ProtocolException("HELLO intent " + intent + " with a session id of " + sidLength
                            + " bytes (NEW carries none, the others 16)");
                }
                if (min == 0 || min > max) {
                    throw new ProtocolException("HELLO version range " + min + ".." + max + " is invalid");
                }
                int capabilities = body.getInt();
                long timestamp = body.getLong();
                long lastReceived = body.getLong();
                if (lastReceived < 0) {
                    throw new ProtocolException("HELLO last received sequence is negative");
                }
                byte[] nonce = new byte[NONCE_LENGTH];
                body.get(nonce);
                byte[] sid = new byte[sidLength];
                body.get(sid);
                String tokenId = getString(body, limits.maxTokenIdLength(), "token id");
                return new Frame.Hello(min, max, tokenId, nonce, timestamp, intent, sid, lastReceived, capabilities);
            }
            case CHALLENGE: {
                int version = body.get() & 0xFF;
                int capabilities = body.getInt();
                byte[] nonce = new byte[NONCE_LENGTH];
                body.get(nonce);
                return new Frame.Challenge(version, nonce, capabilities);
            }
            case PROOF: {
                byte[] mac = new byte[MAC_LENGTH];
                body.get(mac);
                return new Frame.Proof(mac);
            }
            case WELCOME: {
                byte[] sid = new byte[SESSION_ID_LENGTH];
                body.get(sid);
                long lastReceived = body.getLong();
                int maxPayload = body.getInt();
                int window = body.getInt();
                byte[] mac = new byte[MAC_LENGTH];
                body.get(mac);
                if (lastReceived < 0) {
                    throw new ProtocolException("WELCOME last received sequence is negative");
                }
                if (maxPayload < 1024 || maxPayload > Limits.HARD_MAX_PAYLOAD) {
                    throw new ProtocolException("WELCOME max payload " + Integer.toUnsignedString(maxPayload)
                            + " is outside 1024.." + Limits.HARD_MAX_PAYLOAD);
                }
                checkWindow("WELCOME initial window", window);
                return new Frame.Welcome(sid, lastReceived, mac, maxPayload, window);
            }
            case OPEN: {
                int port = body.getShort() & 0xFFFF;
                int window = body.getInt();
                checkWindow("OPEN window", window);
                String host = getString(body, limits.maxHostLength(), "host");
                if (host.isEmpty()) {
                    throw new ProtocolException("OPEN host is empty");
                }
                return new Frame.Open(streamId, seq, host, port, window);
            }
            case ACCEPT: {
                int window = body.getInt();
                checkWindow("ACCEPT window", window);
                return new Frame.Accept(streamId, seq, window);
            }
            case DATA: {
                boolean fin = (flags & FLAG_FIN) != 0;
                ByteBuffer payload = body.slice();
                body.position(body.limit());
                if ((flags & FLAG_COMPRESSED) != 0) {
                    payload = inflate(payload);
                }
                return new Frame.Data(streamId, seq, payload, fin);
            }
            case WINDOW_UPDATE: {
                int increment = body.getInt();
                checkWindow("WINDOW_UPDATE increment", increment);
                return new Frame.WindowUpdate(streamId, seq, increment);
            }
            case ACK: {
                long acked = body.getLong();
                if (acked < 0) {
                    throw new ProtocolException("ACK sequence is negative");
                }
                return new Frame.Ack(acked);
            }
            case RESET: {
                ResetCode code = resetCode(body.getShort() & 0xFFFF);
                String message = getString(body, limits.maxMessageLength(), "reset message");
                return new Frame.Reset(streamId, seq, code, message);
            }
            case PING:
                return new Frame.Ping(body.getLong());
            case PONG:
                return new Frame.Pong(body.getLong());
            case CLOSE: {
                CloseCode code = closeCode(body.getShort() & 0xFFFF);
                String message = getString(body, limits.maxMessageLength(), "close message");
                return new Frame.Close(code, message);
            }
            case EXPOSE:
                return decodeExpose(body);
            case EXPOSE_RESULT:
                return decodeExposeResult(body);
            case ROUTE_LOG:
                return decodeRouteLog(body);
            case ROUTE_LOGS:
                return decodeRouteLogs(body);
            default:
                throw new ProtocolException("unknown frame type " + type);
        }
    }

    private Frame.Expose decodeExpose(ByteBuffer body) throws ProtocolException {
        int flags = body.get() & 0xFF;
        if ((flags & ~EXPOSE_RELEASE) != 0) {
            throw new ProtocolException("EXPOSE has unknown flags 0x" + Integer.toHexString(flags));
        }
        boolean release = (flags & EXPOSE_RELEASE) != 0;
        String agent = getString(body, 64, "agent name");
        if (!isAgentName(agent)) {
            throw new ProtocolException("EXPOSE agent name must be 1..64 of A-Z a-z 0-9 . _ -");
        }
        int count = body.getShort() & 0xFFFF;
        if (count > Frame.Expose.MAX_SERVICES) {
            throw new ProtocolException(
                    CloseCode.LIMIT_EXCEEDED,
                    "EXPOSE lists " + count + " services, at most " + Frame.Expose.MAX_SERVICES);
        }
        if (release && count > 0) {
            throw new ProtocolException("EXPOSE releases and lists services at once");
        }
        java.util.List<Frame.ExposedService> services = new java.util.ArrayList<>(count);
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < count; i++) {
            int kindCode = body.get() & 0xFF;
            Frame.ServiceKind kind = null;
            for (Frame.ServiceKind k : Frame.ServiceKind.values()) {
                if (k.code == kindCode) {
                    kind = k;
                }
            }
            if (kind == null) {
                throw new ProtocolException("EXPOSE service " + i + " has unknown kind " + kindCode);
            }
            int port = body.getShort() & 0xFFFF;
            String name = getString(body, 63, "service name");
            if (!isServiceName(name)) {
                throw new ProtocolException(
                        "EXPOSE service " + i + " name must be a DNS label (a-z 0-9 -, at most 63 characters)");
            }
            if (!names.add(name)) {
                throw new ProtocolException("EXPOSE lists service " + name + " twice");
            }
            if (kind != Frame.ServiceKind.TCP && port != 0) {
                throw new ProtocolException("EXPOSE service " + name + " asks for a public port but is not TCP");
            }
            String target = getString(body, limits.maxMessageLength(), "service target");
            services.add(new Frame.ExposedService(name, kind, port, target));
        }
        String routeToken = "";
        if (body.hasRemaining()) {
            // Optional trailing field (added after version 1 shipped; an EXPOSE without it has no route token).
            routeToken = getString(body, Frame.Expose.MAX_ROUTE_TOKEN, "route token");
            if (routeToken.length() < Frame.Expose.MIN_ROUTE_TOKEN) {
                throw new ProtocolException(
                        "EXPOSE route token must have at least " + Frame.Expose.MIN_ROUTE_TOKEN + " characters");
            }
            if (release) {
                throw new ProtocolException("EXPOSE releases and carries a route token at once");
            }
        }
        return new Frame.Expose(agent, release, java.util.List.copyOf(services), routeToken);
    }

    private Frame.ExposeResult decodeExposeResult(ByteBuffer body) throws ProtocolException {
        int count = body.getShort() & 0xFFFF;
        if (count > Frame.Expose.MAX_SERVICES) {
            throw new ProtocolException(
                    CloseCode.LIMIT_EXCEEDED,
                    "EXPOSE_RESULT holds " + count + " grants, at most " + Frame.Expose.MAX_SERVICES);
        }
        java.util.List<Frame.Grant> grants = new java.util.ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int status = body.get() & 0xFF;
            if (status > 1) {
                throw new ProtocolException("EXPOSE_RESULT grant " + i + " has unknown status " + status);
            }
            int port = body.getShort() & 0xFFFF;
            String name = getString(body, 63, "service name");
            if (!isServiceName(name)) {
                throw new ProtocolException("EXPOSE_RESULT grant " + i + " has an invalid service name");
            }
            String detail = getString(body, limits.maxMessageLength(), "grant detail");
            grants.add(new Frame.Grant(name, status == 0, port, detail));
        }
        return new Frame.ExposeResult(java.util.List.copyOf(grants));
    }

    private Frame.RouteLogs decodeRouteLogs(ByteBuffer body) throws ProtocolException {
        int count = body.getShort() & 0xFFFF;
        if (count == 0 || count > Frame.RouteLogs.MAX_REPORTS) {
            throw new ProtocolException(
                    "ROUTE_LOGS holds " + count + " reports, 1.." + Frame.RouteLogs.MAX_REPORTS + " allowed");
        }
        java.util.List<Frame.RouteLog> reports = new java.util.ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            if (body.remaining() < ROUTE_LOG_FIXED + 3 * 2) {
                throw new ProtocolException("ROUTE_LOGS report " + i + " is truncated");
            }
            reports.add(decodeRouteLog(body));
        }
        return new Frame.RouteLogs(reports);
    }

    private Frame.RouteLog decodeRouteLog(ByteBuffer body) throws ProtocolException {
        int viaCode = body.get() & 0xFF;
        Frame.RouteVia via = null;
        for (Frame.RouteVia v : Frame.RouteVia.values()) {
            if (v.code == viaCode) {
                via = v;
            }
        }
        if (via == null) {
            throw new ProtocolException("ROUTE_LOG has unknown via " + viaCode);
        }
        int status = body.getShort() & 0xFFFF;
        if (status > 999 || status > 0 && status < 100) {
            throw new ProtocolException("ROUTE_LOG status " + status + " is neither 0 nor 100..999");
        }
        long skipped = body.getInt() & 0xFFFF_FFFFL;
        long latency = body.getLong();
        long in = body.getLong();
        long out = body.getLong();
        if (latency < 0 || in < 0 || out < 0) {
            throw new ProtocolException("ROUTE_LOG latency and byte counts must be below 2^63");
        }
        String service = getString(body, 63, "ROUTE_LOG service");
        if (!isServiceName(service)) {
            throw new ProtocolException(
                    "ROUTE_LOG service name must be a DNS label (a-z 0-9 -, at most 63 characters)");
        }
        String method = getString(body, Frame.RouteLog.MAX_METHOD, "ROUTE_LOG method");
        if (!isMethod(method)) {
            throw new ProtocolException(
                    "ROUTE_LOG method must be an HTTP token of 1.." + Frame.RouteLog.MAX_METHOD + " characters");
        }
        String path = getString(body, Frame.RouteLog.MAX_PATH, "ROUTE_LOG path");
        String problem = routeLogPathProblem(path);
        if (problem != null) {
            throw new ProtocolException("ROUTE_LOG path " + problem);
        }
        return new Frame.RouteLog(service, via, method, path, status, latency, in, out, skipped);
    }

    // ---------------------------------------------------------------- helpers

    /** Inflates a COMPRESSED payload; more than maxPayload bytes of output (a zip bomb) is refused before it is made. */
    private ByteBuffer inflate(ByteBuffer compressed) throws ProtocolException {
        java.util.zip.Inflater inflater = INFLATER.get();
        inflater.reset();
        inflater.setInput(compressed);
        byte[] out = INFLATE_BUFFER.get();
        if (out.length < limits.maxPayload()) {
            out = new byte[limits.maxPayload()];
            INFLATE_BUFFER.set(out);
        }
        int max = limits.maxPayload();
        int n = 0;
        try {
            while (!inflater.finished()) {
                if (n == max) {
                    if (inflater.inflate(new byte[1]) > 0 || !inflater.finished() && !inflater.needsInput()) {
                        throw new ProtocolException(
                                CloseCode.LIMIT_EXCEEDED,
                                "compressed DATA inflates beyond " + limits.maxPayload() + " bytes");
                    }
                    if (!inflater.finished()) {
                        throw new ProtocolException("compressed DATA is truncated");
                    }
                    break;
                }
                int got = inflater.inflate(out, n, max - n);
                n += got;
                if (got == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    throw new ProtocolException("compressed DATA is truncated or needs a dictionary");
                }
            }
        } catch (java.util.zip.DataFormatException e) {
            throw new ProtocolException("compressed DATA is not a valid zlib stream");
        }
        if (inflater.getRemaining() > 0) {
            throw new ProtocolException("compressed DATA has " + inflater.getRemaining() + " bytes after its end");
        }
        return ByteBuffer.wrap(java.util.Arrays.copyOf(out, n));
    }

    private static void checkWindow(String what, int value) throws ProtocolException {
        if (value <= 0) {
            throw new ProtocolException(
                    what + " " + Integer.toUnsignedString(value) + " is outside 1.." + Integer.MAX_VALUE);
        }
    }

    /** The intent with this wire code. */
    static Frame.Intent intent(int code) throws ProtocolException {
        for (Frame.Intent i : Frame.Intent.values()) {
            if (i.code == code) {
                return i;
            }
        }
        throw new ProtocolException("unknown HELLO intent " + code);
    }

    /** The reset code with this wire code. */
    static ResetCode resetCode(int code) throws ProtocolException {
        for (ResetCode c : ResetCode.values()) {
            if (c.code == code) {
                return c;
            }
        }
        throw new ProtocolException("unknown RESET code " + code);
    }

    /** The close code with this wire code. */
    static CloseCode closeCode(int code) throws ProtocolException {
        for (CloseCode c : CloseCode.values()) {
            if (c.code == code) {
                return c;
            }
        }
        throw new ProtocolException("unknown CLOSE code " + code);
    }

    private static String getString(ByteBuffer body, int max, String what) throws ProtocolException {
        int length = body.getShort() & 0xFFFF;
        if (length > max) {
            throw new ProtocolException(what + " of " + length + " bytes exceeds " + max);
        }
        if (length > body.remaining()) {
            throw new ProtocolException(
                    what + " announces " + length + " bytes but only " + body.remaining() + " remain");
        }
        ByteBuffer bytes = body.slice(body.position(), length);
        body.position(body.position() + length);
        String ascii = asciiOrNull(bytes);
        if (ascii != null) {
            return ascii; // the common case (paths, names, methods), without a decoder per string
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            CharBuffer chars = decoder.decode(bytes);
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw new ProtocolException(what + " is not valid UTF-8");
        }
    }

    /** {@code bytes} as a string when every byte is ASCII (valid UTF-8 as it is), else null. Leaves the position. */
    private static String asciiOrNull(ByteBuffer bytes) {
        int start = bytes.position();
        int end = bytes.limit();
        for (int i = start; i < end; i++) {
            if (bytes.get(i) < 0) {
                return null;
            }
        }
        if (bytes.hasArray()) {
            return new String(bytes.array(), bytes.arrayOffset() + start, end - start, StandardCharsets.ISO_8859_1);
        }
        byte[] copy = new byte[end - start];
        bytes.get(start, copy);
        return new String(copy, StandardCharsets.ISO_8859_1);
    }

    private static void putString(ByteBuffer out, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 0xFFFF) {
            throw new IllegalArgumentException("string of " + bytes.length + " bytes exceeds 65535");
        }
        out.putShort((short) bytes.length);
        out.put(bytes);
    }

    private static int utf8Length(String s) {
        return 2 + utf8Bytes(s);
    }

    /**
     * What {@code s.getBytes(UTF_8).length} returns, without making the array: a lone surrogate encodes as '?' (one
     * byte), as {@code getBytes} replaces it.
     */
    static int utf8Bytes(String s) {
        int n = s.length();
        int bytes = n;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                continue;
            }
            if (c < 0x800) {
                bytes += 1;
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                bytes += 2; // the pair's two chars count 2, its encoding is 4 bytes
                i++;
            } else if (Character.isSurrogate(c)) {
                // unpaired: encoded as '?', counted once already
            } else {
                bytes += 2;
            }
        }
        return bytes;
    }

    private static int lengthOf(byte[] b) {
        return b == null ? 0 : b.length;
    }

    private static void requireLength(String what, byte[] b, int length) {
        if (b == null || b.length != length) {
            throw new IllegalArgumentException(what + " must be " + length + " bytes");
        }
    }

    private static byte u8(int v) {
        if (v < 0 || v > 0xFF) {
            throw new IllegalArgumentException("value " + v + " does not fit u8");
        }
        return (byte) v;
    }

    private static int u16(int v) {
        if (v < 0 || v > 0xFFFF) {
            throw new IllegalArgumentException("value " + v + " does not fit u16");
        }
        return v;
    }
}
