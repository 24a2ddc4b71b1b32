package dev.splitstream.protocol;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * A multiplexed session between an entry node (client) and an exit node (server), independent of any transport.
 *
 * <p>The transport feeds inbound frames to {@link #receive(Frame)} and gives the session a {@link FrameSink} for
 * outbound frames with {@link #attach}. A session outlives its transports: when a connection drops the transport calls
 * {@link #detach}; reliable frames stay buffered (bounded by {@link Limits#maxUnacked()}) until a new connection is
 * attached, then everything after the peer's last received sequence number is resent, so open streams carry on without
 * loss or duplication.
 *
 * <p>Reliable frames ({@link Frame.Open}, {@link Frame.Accept}, {@link Frame.Data}, {@link Frame.WindowUpdate},
 * {@link Frame.Reset}) are numbered 1, 2, 3... per direction and kept until a cumulative {@link Frame.Ack}. The session
 * acknowledges on its own after {@link #ACK_EVERY_FRAMES} frames or {@link #ackEveryBytes()} bytes, and on
 * {@link #flushAck()}, which transports should call on a short timer (for example every 100 ms).
 *
 * <p>Not thread-safe: every call, and every callback, happens on one thread (a Vert.x context in the nodes).
 */
public final class Session {

    /** Which end of the session this is. The client opens odd stream ids, the server even ones. */
    public enum Role {
        /** The entry node: sends HELLO, opens odd stream ids. */
        CLIENT,
        /** The exit node: answers the handshake, opens even stream ids. */
        SERVER
    }

    /** The session acknowledges after this many reliable frames arrived since its last ACK. */
    public static final int ACK_EVERY_FRAMES = 64;

    /** Smallest amount of room a DATA frame waits for in the resend buffer (avoids many tiny frames). */
    private static final int MIN_DATA_ROOM = 4096;

    /** A reliable frame waiting for the peer's acknowledgement, with its size on the wire. */
    private record Unacked(Frame frame, long seq, int cost) {}

    private final Role role;
    private final HandshakeResult established;
    private final Limits limits;
    private final SessionListener listener;
    private final LongSupplier nanoClock;
    private final byte[] id;
    private final String idHex;
    private final int sendMaxPayload;
    private final long ackEveryBytes;

    private final Map<Integer, Stream> streams = new HashMap<>();
    private int nextStreamId;
    private int highestPeerStreamId;

    private long nextSeq = 1;
    private long peerAckedSeq;
    private final ArrayDeque<Unacked> unacked = new ArrayDeque<>();
    private long unackedBytes;
    /** Streams waiting for room in the resend buffer, in the order they asked. */
    private final ArrayDeque<Stream> blocked = new ArrayDeque<>();

    private long lastReceivedSeq;
    /** True while {@link #attach} resends: frames numbered meanwhile wait in the resend buffer for its loop. */
    private boolean resending;

    private long lastAckSent;
    private long bytesSinceAck;
    private int framesSinceAck;
    private boolean ackWanted;

    private FrameSink sink;
    /** The attached sink's transport said its write queue is full: stream data waits until {@link #outboundDrained}. */
    private boolean outboundFull;

    private boolean closed;
    private CloseCode closeCode;
    private String closeMessage;

    private long lastReceiveNanos;
    private long lastPingOpaque = Long.MIN_VALUE;
    private long srttNanos = -1;

    private final CompressionGovernor governor;
    /** The sink the governor measures through: the last one attached. */
    private FrameSink governedSink;

    private long bytesSent;
    private long bytesReceived;
    private long framesResent;
    private long streamsOpened;

    /**
     * A session established by a completed handshake.
     *
     * @param role which end this is
     * @param established what the handshake established (session id and key, the peer's max payload)
     * @param limits this side's limits (windows, streams, resend buffer)
     * @param listener session events
     * @param nanoClock monotonic clock for RTT and idle accounting (System::nanoTime in production)
     */
    public Session(
            Role role, HandshakeResult established, Limits limits, SessionListener listener, LongSupplier nanoClock) {
        this.role = Objects.requireNonNull(role, "role");
        this.established = Objects.requireNonNull(established, "established");
        this.limits = Objects.requireNonNull(limits, "limits");
        this.listener = Objects.requireNonNull(listener, "listener");
        this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
        this.id = established.sessionId().clone();
        this.idHex = Hmac.hex(id);
        this.sendMaxPayload = Math.max(1024, Math.min(limits.maxPayload(), established.maxPayload()));
        this.ackEveryBytes = Math.max(limits.maxPayload(), Math.min(limits.maxUnacked() / 8, 512 * 1024));
        this.nextStreamId = role == Role.CLIENT ? 1 : 2;
        this.lastReceiveNanos = nanoClock.getAsLong();
        this.governor = new CompressionGovernor((established.capabilities() & Capabilities.DEFLATE) != 0);
    }

    /** The 16-byte session id. */
    public byte[] id() {
        return id.clone();
    }

    /** The session id as 32 lowercase hex digits, for logs, registries and routing (not a secret). */
    public String idHex() {
        return idHex;
    }

    /** The session key, for proving RESUME and JOIN handshakes. */
    public Secret sessionKey() {
        return established.sessionKey();
    }

    /** Bytes of reliable frames after which the session acknowledges without waiting for {@link #flushAck()}. */
    public long ackEveryBytes() {
        return ackEveryBytes;
    }

    /** Which end of the session this is. */
    public Role role() {
        return role;
    }

    /** What the handshake that created this session established. */
    public HandshakeResult established() {
        return established;
    }

    /** The limits this side enforces. */
    public Limits limits() {
        return limits;
    }

    /** Largest DATA payload this side sends: the smaller of its own and the peer's maximum payload. */
    public int sendMaxPayload() {
        return sendMaxPayload;
    }

    /**
     * Connects an outbound path. Resends every reliable frame after {@code peerLastReceivedSeq} (from the handshake of
     * the new connection), then sends new frames there. Replaces any sink attached before. The peer's last received
     * sequence number also acknowledges every frame up to it.
     *
     * @throws ProtocolException if the peer claims a sequence this side never sent, or one already discarded, or the
     *     session is closed
     */
    public void attach(FrameSink sink, long peerLastReceivedSeq) throws ProtocolException {
        Objects.requireNonNull(sink, "sink");
        if (closed) {
            throw new ProtocolException(CloseCode.UNKNOWN_SESSION, "session " + idHex + " is closed");
        }
        if (peerLastReceivedSeq > nextSeq - 1) {
            throw new ProtocolException("peer claims to have received sequence " + peerLastReceivedSeq
                    + " but this side sent only up to " + (nextSeq - 1));
        }
        if (peerLastReceivedSeq < peerAckedSeq) {
            throw new ProtocolException("peer resumes after sequence " + peerLastReceivedSeq
                    + " but it already acknowledged up to " + peerAckedSeq);
        }
        if (governedSink != sink) {
            // another connection: the governor measured another path (the plain-HTTP transport detaches its one leg
            // when a downstream GET ends or backs up, and attaches it again for the next: it keeps measuring)
            governedSink = sink;
            governor.restart(nextSeq);
        }
        this.sink = sink;
        outboundFull = false;
        // The handshake told the peer what we received only if this connection carries both directions (a split
        // path's legs do not), so acknowledge again on the next flush; one frame per attach.
        ackWanted = lastReceivedSeq > 0;
        // Frames numbered while this resends (a stream's handler may write from onAcknowledged: a budget waiter that
        // returns credit sends a WINDOW_UPDATE) only join the resend buffer; the loop below sends them after the
        // older ones. Sent at once they overtook the resend, and the peer closed the session on a sequence gap.
        long resendThrough = nextSeq - 1;
        resending = true;
        try {
            discardAcked(peerLastReceivedSeq);
            long sentThrough = peerLastReceivedSeq;
            boolean more = true;
            while (more && this.sink == sink && !closed) {
                more = false;
                for (Unacked u : unacked.toArray(new Unacked[0])) {
                    if (u.seq() <= sentThrough) {
                        continue;
                    }
                    if (this.sink != sink || closed) {
                        break;
                    }
                    if (u.seq() <= resendThrough) {
                        framesResent++;
                    }
                    sink.send(view(u.frame()));
                    sentThrough = u.seq();
                    more = true;
                }
            }
        } finally {
            resending = false;
        }
        // Measure an RTT early, but keep an outstanding ping: transports that re-attach often (every GET of the HTTP
        // transport) would otherwise replace its opaque before its pong arrives, and never measure one.
        if (srttNanos < 0 && lastPingOpaque == Long.MIN_VALUE && this.sink == sink && !closed) {
            ping();
        }
        drainBlocked();
    }

    /** The outbound path is gone; frames wait (bounded) for the next {@link #attach}. No-op if {@code sink} is not attached. */
    public void detach(FrameSink sink) {
        if (this.sink == sink) {
            this.sink = null;
            outboundFull = false;
        }
    }

    /**
     * The transport under {@code sink} cannot take more now (its write queue is over its high-water mark): no new DATA
     * frame is made until {@link #outboundDrained}, so streams stop taking bytes ({@link Stream#write} returns false)
     * and their sockets pause instead of filling the transport's queue up to the resend buffer's limit. Control frames
     * (ACK, WINDOW_UPDATE, PONG, RESET) still go. No-op if {@code sink} is not the attached sink.
     */
    public void outboundFull(FrameSink sink) {
        if (this.sink == sink && sink != null) {
            outboundFull = true;
        }
    }

    /** The transport under {@code sink} drained: streams waiting for it go on. No-op if it is not the attached sink. */
    public void outboundDrained(FrameSink sink) {
        if (this.sink == sink && outboundFull) {
            outboundFull = false;
            drainBlocked();
        }
    }

    /** True between {@link #outboundFull} and {@link #outboundDrained} (or the next attach or detach). */
    public boolean isOutboundFull() {
        return outboundFull;
    }

    /** True while an outbound path is attached. */
    public boolean isAttached() {
        return sink != null;
    }

    /**
     * Handles one inbound frame. Duplicates of reliable frames already received (after a resend) are ignored; a gap, a
     * frame for an unknown stream or a window violation is a ProtocolException, after which the session is closed (a
     * CLOSE with the exception's code has then been sent if a sink is attached). Frames arriving after the session
     * closed are ignored.
     */
    public void receive(Frame frame) throws ProtocolException {
        if (closed) {
            return;
        }
        lastReceiveNanos = nanoClock.getAsLong();
        try {
            dispatch(frame);
        } catch (ProtocolException e) {
            close(e.code(), e.getMessage());
            throw e;
        }
    }

    private void dispatch(Frame frame) throws ProtocolException {
        switch (frame.type()) {
            case HELLO, CHALLENGE, PROOF, WELCOME ->
                throw new ProtocolException("unexpected " + frame.type() + " inside an established session");
            case ACK -> onAck(((Frame.Ack) frame).ackedSeq());
            case PING -> {
                if (sink != null) {
                    sink.send(new Frame.Pong(((Frame.Ping) frame).opaque()));
                }
            }
            case PONG -> onPong(((Frame.Pong) frame).opaque());
            case EXPOSE -> {
                if (role != Role.SERVER) {
                    throw new ProtocolException("EXPOSE sent to a client; only agents (clients) announce services");
                }
                listener.onExpose((Frame.Expose) frame);
            }
            case EXPOSE_RESULT -> {
                if (role != Role.CLIENT) {
                    throw new ProtocolException("EXPOSE_RESULT sent to a server");
                }
                listener.onExposeResult((Frame.ExposeResult) frame);
            }
            case ROUTE_LOG -> {
                if (role != Role.CLIENT) {
                    throw new ProtocolException("ROUTE_LOG sent to a server");
                }
                if ((established.capabilities() & Capabilities.ROUTE_LOG) == 0) {
                    throw new ProtocolException("ROUTE_LOG received but the capability was not agreed");
                }
                listener.onRouteLog((Frame.RouteLog) frame);
            }
            case ROUTE_LOGS -> {
                if (role != Role.CLIENT) {
                    throw new ProtocolException("ROUTE_LOGS sent to a server");
                }
                int both = Capabilities.ROUTE_LOG | Capabilities.ROUTE_LOG_BATCH;
                if ((established.capabilities() & both) != both) {
                    throw new ProtocolException("ROUTE_LOGS received but the capability was not agreed");
                }
                for (Frame.RouteLog r : ((Frame.RouteLogs) frame).reports()) {
                    listener.onRouteLog(r);
                }
            }
            case CLOSE -> {
                Frame.Close c = (Frame.Close) frame;
                shutdown(c.code(), c.message(), false);
            }
            case OPEN, ACCEPT, DATA, WINDOW_UPDATE, RESET -> {
                long seq = frame.seq();
                if (seq <= lastReceivedSeq) {
                    ackWanted = true; // the peer resent what we already had: it missed an ACK
                    return;
                }
                if (seq != lastReceivedSeq + 1) {
                    throw new ProtocolException(
                            "sequence gap: expected " + (lastReceivedSeq + 1) + " but received " + seq);
                }
                lastReceivedSeq = seq;
                bytesSinceAck += FrameCodec.HEADER_LENGTH + FrameCodec.bodyLength(frame);
                framesSinceAck++;
                onReliable(frame);
                if (unackedBytes > 2 * limits.maxUnacked()) {
                    // Only control frames pass a full resend buffer; a peer that keeps sending but never
                    // acknowledges would otherwise grow it without bound.
                    throw new ProtocolException(
                            CloseCode.LIMIT_EXCEEDED,
                            "peer does not acknowledge: " + unackedBytes + " bytes wait for an ACK");
                }
                if (!closed && (framesSinceAck >= ACK_EVERY_FRAMES || bytesSinceAck >= ackEveryBytes)) {
                    sendAck();
                }
            }
        }
    }

    private void onReliable(Frame frame) throws ProtocolException {
        switch (frame.type()) {
            case OPEN -> onOpen((Frame.Open) frame);
            case ACCEPT -> {
                Stream s = streamFor(frame);
                if (s != null) {
                    s.onAccept(((Frame.Accept) frame).window());
                }
            }
            case DATA -> {
                Stream s = streamFor(frame);
                Frame.Data d = (Frame.Data) frame;
                if (s != null) {
                    bytesReceived += d.payload().remaining();
                    s.onData(d.payload(), d.fin());
                }
            }
            case WINDOW_UPDATE -> {
                Stream s = streamFor(frame);
                if (s != null) {
                    s.onWindowUpdate(((Frame.WindowUpdate) frame).increment());
                }
            }
            case RESET -> {
                Stream s = streamFor(frame);
                if (s != null) {
                    Frame.Reset r = (Frame.Reset) frame;
                    s.onPeerReset(r.code(), r.message());
                }
            }
            default -> throw new IllegalStateException(frame.type().toString());
        }
    }

    private void onOpen(Frame.Open open) throws ProtocolException {
        int sid = open.streamId();
        boolean peerParity = (sid % 2 == 1) == (role == Role.SERVER);
        if (!peerParity) {
            throw new ProtocolException("peer opened stream " + sid + " with this side's parity ("
                    + (role == Role.SERVER ? "clients open odd ids" : "servers open even ids") + ")");
        }
        if (sid <= highestPeerStreamId) {
            throw new ProtocolException(
                    "peer reopened stream " + sid + " (ids must increase; last was " + highestPeerStreamId + ")");
        }
        highestPeerStreamId = sid;
        if (streams.size() >= limits.maxStreams()) {
            sendReliable(new Frame.Reset(
                    sid, nextSeq, ResetCode.TOO_MANY_STREAMS, "more than " + limits.maxStreams() + " streams open"));
            return;
        }
        Stream s = new Stream(this, sid, open.host(), open.port(), false, null, open.window());
        streams.put(sid, s);
        streamsOpened++;
        listener.onStreamOpened(s);
    }

    /** The open stream a frame names, null when it names a stream already closed, else a ProtocolException. */
    private Stream streamFor(Frame frame) throws ProtocolException {
        int sid = frame.streamId();
        Stream s = streams.get(sid);
        if (s != null) {
            return s;
        }
        if (wasOpened(sid)) {
            return null; // crossed a RESET or FIN in flight: harmless
        }
        throw new ProtocolException(frame.type() + " for stream " + sid + " that was never opened");
    }

    private boolean wasOpened(int sid) {
        boolean local = (sid % 2 == 1) == (role == Role.CLIENT);
        return local ? sid < nextStreamId : sid <= highestPeerStreamId;
    }

    private void onAck(long acked) throws ProtocolException {
        if (acked > nextSeq - 1) {
            throw new ProtocolException("ACK of sequence " + acked + " but only " + (nextSeq - 1) + " were sent");
        }
        if (acked <= peerAckedSeq) {
            return;
        }
        discardAcked(acked);
        drainBlocked();
    }

    private void discardAcked(long acked) {
        while (!unacked.isEmpty() && unacked.peekFirst().seq() <= acked) {
            Unacked done = unacked.pollFirst();
            unackedBytes -= done.cost();
            if (done.frame() instanceof Frame.Data d && d.payload().hasRemaining()) {
                governor.acknowledgedData(done.seq(), d.payload().remaining());
                Stream s = streams.get(d.streamId());
                if (s != null) {
                    s.onAcknowledged(d.payload().remaining());
                }
            }
        }
        peerAckedSeq = Math.max(peerAckedSeq, acked);
        governor.acknowledged(
                peerAckedSeq,
                nextSeq,
                nanoClock.getAsLong(),
                srttNanos,
                sink == null ? 0 : sink.deflatedPayloadBytes());
    }

    private void onPong(long opaque) {
        if (opaque != lastPingOpaque) {
            return; // an answer to an older ping, or an unsolicited one
        }
        lastPingOpaque = Long.MIN_VALUE;
        long sample = nanoClock.getAsLong() - opaque;
        if (sample < 0) {
            return;
        }
        srttNanos = srttNanos < 0 ? sample : (7 * srttNanos + sample) / 8;
        listener.onRtt(srttNanos);
    }

    /** Last reliable sequence number received; a resumed connection presents it in its handshake. */
    public long lastReceivedSeq() {
        return lastReceivedSeq;
    }

    /** Last reliable sequence number this side assigned (0 before the first). */
    public long lastSentSeq() {
        return nextSeq - 1;
    }

    /** Bytes of reliable frames kept for resending until the peer acknowledges them. */
    public long unackedBytes() {
        return unackedBytes;
    }

    /**
     * Opens a stream to {@code host:port} on the peer's side. Writes are accepted once the peer accepted (see
     * {@link StreamHandler#onAccepted}); before that they are queued and {@link Stream#write} returns false.
     *
     * @throws ProtocolException LIMIT_EXCEEDED when {@link Limits#maxStreams()} streams are open, or the session is closed
     * @throws IllegalArgumentException when the host is empty or longer than {@link Limits#maxHostLength()}, or the port
     *     is outside 0..65535
     */
    public Stream open(String host, int port, StreamHandler handler) throws ProtocolException {
        Objects.requireNonNull(handler, "handler");
        int hostBytes = host.getBytes(StandardCharsets.UTF_8).length;
        if (hostBytes == 0 || hostBytes > limits.maxHostLength()) {
            throw new IllegalArgumentException("host must be 1.." + limits.maxHostLength() + " bytes of UTF-8");
        }
        if (port < 0 || port > 0xFFFF) {
            throw new IllegalArgumentException("port " + port + " is outside 0..65535");
        }
        if (closed) {
            throw new ProtocolException(closeCode, "session " + idHex + " is closed: " + closeMessage);
        }
        if (streams.size() >= limits.maxStreams()) {
            throw new ProtocolException(
                    CloseCode.LIMIT_EXCEEDED, "already " + streams.size() + " streams open on this session");
        }
        if (nextStreamId < 0 || nextStreamId > FrameCodec.MAX_STREAM_ID - 2) {
            throw new ProtocolException(CloseCode.LIMIT_EXCEEDED, "stream ids exhausted on this session");
        }
        int sid = nextStreamId;
        nextStreamId += 2;
        Stream s = new Stream(this, sid, host, port, true, handler, 0);
        streams.put(sid, s);
        streamsOpened++;
        sendReliable(new Frame.Open(sid, nextSeq, host, port, s.receiveWindow()));
        return s;
    }

    /** Sends a PING; the matching PONG updates {@link #rttNanos()} and calls {@link SessionListener#onRtt}. */
    public void ping() {
        if (sink == null || closed) {
            return;
        }
        lastPingOpaque = nanoClock.getAsLong();
        sink.send(new Frame.Ping(lastPingOpaque));
    }

    /**
     * Sends an unnumbered control frame ({@link Frame.Expose} from a client, {@link Frame.ExposeResult} from a server)
     * now. Such frames are not kept for resending: a client announces again after every resume, and a server answers
     * again when its outbound path is attached anew.
     *
     * @return false when no outbound path is attached or the session is closed (nothing was sent)
     * @throws IllegalArgumentException for another frame type, or one this role does not send
     */
    public boolean sendControl(Frame frame) {
        boolean ok = (frame instanceof Frame.Expose && role == Role.CLIENT)
                || (frame instanceof Frame.ExposeResult && role == Role.SERVER);
        if (!ok) {
            throw new IllegalArgumentException(frame.type() + " is not a control frame a " + role + " sends");
        }
        if (sink == null || closed) {
            return false;
        }
        sink.send(frame);
        return true;
    }

    /** What became of an informational frame offered with {@link #offerRouteLog}. */
    public enum Offer {
        /** Handed to the transport. */
        SENT,
        /** The peer did not agree to {@link Capabilities#ROUTE_LOG}. */
        NOT_AGREED,
        /** No outbound path is attached (the peer is reconnecting) or the session is closed. */
        AWAY,
        /** The outbound path is busy: streams wait for room in the resend buffer, or it is half full. */
        BUSY
    }

    /**
     * Server side: sends a {@link Frame.RouteLog} now if the peer agreed to {@link Capabilities#ROUTE_LOG} and the
     * outbound path is idle enough; otherwise drops it. Informational frames must never slow the data path: they are
     * not numbered, not kept for resending, and not sent while streams wait for room in the resend buffer or while it is
     * more than half full.
     *
     * @throws IllegalStateException on a client session (only servers report requests)
     */
    public Offer offerRouteLog(Frame.RouteLog report) {
        return offerReport(report, Capabilities.ROUTE_LOG);
    }

    /**
     * Server side: sends several reports in one {@link Frame.RouteLogs} now, under the same conditions as
     * {@link #offerRouteLog}, if the peer also agreed to {@link Capabilities#ROUTE_LOG_BATCH}.
     *
     * @throws IllegalStateException on a client session (only servers report requests)
     */
    public Offer offerRouteLogs(Frame.RouteLogs reports) {
        return offerReport(reports, Capabilities.ROUTE_LOG | Capabilities.ROUTE_LOG_BATCH);
    }

    private Offer offerReport(Frame report, int capabilities) {
        if (role != Role.SERVER) {
            throw new IllegalStateException("only a server sends " + report.type());
        }
        if ((established.capabilities() & capabilities) != capabilities) {
            return Offer.NOT_AGREED;
        }
        if (sink == null || closed) {
            return Offer.AWAY;
        }
        if (!blocked.isEmpty() || unackedBytes > limits.maxUnacked() / 2) {
            return Offer.BUSY;
        }
        sink.send(report);
        return Offer.SENT;
    }

    /** Smoothed round-trip time in nanoseconds, or -1 before the first pong. */
    public long rttNanos() {
        return srttNanos;
    }

    /**
     * True while this session sends its DATA plain because acknowledged bytes showed the path outran deflate (the
     * compression governor's choice, its probes aside); false while it deflates or compression was not agreed. Any
     * thread: for the nodes' gauges.
     */
    public boolean sendsDataPlain() {
        return governor.prefersPlain();
    }

    /** Nanoseconds since the last frame arrived (for idle and ping timeouts). */
    public long nanosSinceLastReceive() {
        return nanoClock.getAsLong() - lastReceiveNanos;
    }

    /** Sends an ACK now if any reliable frame arrived since the last one. Transports call it on a short timer. */
    public void flushAck() {
        if (!closed && (lastReceivedSeq > lastAckSent || ackWanted)) {
            sendAck();
        }
    }

    private void sendAck() {
        if (sink == null) {
            return;
        }
        sink.send(new Frame.Ack(lastReceivedSeq));
        lastAckSent = lastReceivedSeq;
        bytesSinceAck = 0;
        framesSinceAck = 0;
        ackWanted = false;
    }

    /** Number of open streams. */
    public int streamCount() {
        return streams.size();
    }

    /** Bytes of DATA payload sent and received so far, and frames resent after reconnects. */
    public SessionStats stats() {
        return new SessionStats(bytesSent, bytesReceived, framesResent, streamsOpened);
    }

    /** Closes the session: resets every stream, sends CLOSE if attached, calls {@link SessionListener#onClosed}. */
    public void close(CloseCode code, String message) {
        shutdown(code, message, true);
    }

    /** True once closed by either side. */
    public boolean isClosed() {
        return closed;
    }

    /** Why the session closed, or null while open. */
    public CloseCode closeCode() {
        return closeCode;
    }

    private void shutdown(CloseCode code, String message, boolean tellPeer) {
        if (closed) {
            return;
        }
        String text = truncate(message == null ? "" : message, limits.maxMessageLength());
        closed = true;
        closeCode = code;
        closeMessage = text;
        List<Stream> open = new ArrayList<>(streams.values());
        streams.clear();
        blocked.clear();
        if (tellPeer && sink != null) {
            sink.send(new Frame.Close(code, text));
        }
        unacked.clear();
        unackedBytes = 0;
        for (Stream s : open) {
            s.onSessionClosed(text);
        }
        listener.onClosed(code, text);
    }

    // ------------------------------------------------------------------ used by Stream

    /** Assigns the next sequence number. Call right before {@link #sendReliable}. */
    long nextSeq() {
        return nextSeq;
    }

    /** Sends (or buffers while detached) a reliable frame numbered {@link #nextSeq()}. */
    void sendReliable(Frame frame) {
        assert frame.seq() == nextSeq;
        nextSeq++;
        int cost = FrameCodec.HEADER_LENGTH + FrameCodec.bodyLength(frame);
        unacked.addLast(new Unacked(frame, frame.seq(), cost));
        unackedBytes += cost;
        if (frame instanceof Frame.Data d) {
            bytesSent += d.payload().remaining();
        }
        if (sink != null && !resending) {
            sink.send(view(frame));
        }
    }

    /**
     * A frame the sink may consume: DATA payloads are handed over as fresh views so a resend still has them, marked
     * plain while the {@link CompressionGovernor} finds the path faster than deflate.
     */
    private Frame view(Frame frame) {
        if (frame instanceof Frame.Data d) {
            return new Frame.Data(d.streamId(), d.seq(), d.payload().duplicate(), d.fin(), governor.plain());
        }
        return frame;
    }

    /** Payload bytes a DATA frame may carry now without overfilling the resend buffer; 0 when it must wait. */
    int dataRoom(int wanted) {
        if (closed || outboundFull) {
            return 0;
        }
        long room = limits.maxUnacked() - unackedBytes - FrameCodec.HEADER_LENGTH;
        if (room >= wanted) {
            return wanted;
        }
        return room >= MIN_DATA_ROOM ? (int) room : 0;
    }

    /** True when the resend buffer has room for more stream data. */
    boolean hasRoom() {
        return dataRoom(MIN_DATA_ROOM) > 0;
    }

    /** A stream waits for room in the resend buffer. */
    void markBlocked(Stream s) {
        if (!s.inBlockedQueue) {
            s.inBlockedQueue = true;
            blocked.addLast(s);
        }
    }

    private void drainBlocked() {
        int n = blocked.size();
        while (n-- > 0 && !blocked.isEmpty() && hasRoom()) {
            Stream s = blocked.pollFirst();
            s.inBlockedQueue = false;
            s.progress();
        }
    }

    void removeStream(Stream s) {
        streams.remove(s.id(), s);
    }

    long nanoTime() {
        return nanoClock.getAsLong();
    }

    static String truncate(String s, int maxBytes) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= maxBytes) {
            return s;
        }
        int end = maxBytes;
        while (end > 0 && (b[end] & 0xC0) == 0x80) {
            end--; // do not cut a character in half
        }
        return new String(b, 0, end, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "Session[" + idHex + " " + role + (closed ? " closed" : "") + ", streams=" + streams.size() + "]";
    }
}
