package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Properties over seeded random frames: sequences survive the byte stream whatever the chunking; mutated bytes either
 * decode to frames that encode back to the same bytes or are refused with a ProtocolException; sessions fed random
 * frames by a hostile peer only ever throw ProtocolException.
 */
class FramePropertyTest {
    private final FrameCodec codec = new FrameCodec(Limits.defaults());

    static Frame randomFrame(Random r) {
        return randomFrame(r, FrameType.values()[r.nextInt(FrameType.values().length)]);
    }

    static Frame randomFrame(Random r, FrameType type) {
        int stream = 1 + r.nextInt(Integer.MAX_VALUE - 1);
        long seq = 1 + (r.nextLong() & Long.MAX_VALUE) % Long.MAX_VALUE;
        return switch (type) {
            case HELLO -> {
                Frame.Intent intent = Frame.Intent.values()[r.nextInt(4)];
                int min = 1 + r.nextInt(200);
                yield new Frame.Hello(
                        min,
                        min + r.nextInt(256 - min),
                        randomString(r, 128),
                        bytes(r, 32),
                        r.nextLong(),
                        intent,
                        intent == Frame.Intent.NEW ? new byte[0] : bytes(r, 16),
                        r.nextLong() & Long.MAX_VALUE,
                        r.nextInt());
            }
            case CHALLENGE -> new Frame.Challenge(r.nextInt(256), bytes(r, 32), r.nextInt());
            case PROOF -> new Frame.Proof(bytes(r, 32));
            case WELCOME ->
                new Frame.Welcome(
                        bytes(r, 16),
                        r.nextLong() & Long.MAX_VALUE,
                        bytes(r, 32),
                        1024 + r.nextInt(1 << 20),
                        window(r));
            case OPEN -> new Frame.Open(stream, seq, 1 + randomString(r, 254), r.nextInt(65536), window(r));
            case ACCEPT -> new Frame.Accept(stream, seq, window(r));
            case DATA -> new Frame.Data(stream, seq, ByteBuffer.wrap(bytes(r, r.nextInt(3000))), r.nextBoolean());
            case WINDOW_UPDATE -> new Frame.WindowUpdate(stream, seq, window(r));
            case ACK -> new Frame.Ack(r.nextLong() & Long.MAX_VALUE);
            case RESET ->
                new Frame.Reset(
                        stream, seq, ResetCode.values()[r.nextInt(ResetCode.values().length)], randomString(r, 300));
            case PING -> new Frame.Ping(r.nextLong());
            case PONG -> new Frame.Pong(r.nextLong());
            case CLOSE ->
                new Frame.Close(CloseCode.values()[r.nextInt(CloseCode.values().length)], randomString(r, 300));
            case EXPOSE -> {
                boolean release = r.nextInt(4) == 0;
                List<Frame.ExposedService> services = new ArrayList<>();
                for (int i = release ? 0 : r.nextInt(5); i > 0; i--) {
                    boolean tcp = r.nextBoolean();
                    services.add(new Frame.ExposedService(
                            "s" + i,
                            tcp ? Frame.ServiceKind.TCP : Frame.ServiceKind.HTTP,
                            tcp ? r.nextInt(65536) : 0,
                            randomString(r, 200)));
                }
                yield new Frame.Expose("agent-" + r.nextInt(1000), release, services);
            }
            case EXPOSE_RESULT -> {
                List<Frame.Grant> grants = new ArrayList<>();
                for (int i = r.nextInt(5); i > 0; i--) {
                    grants.add(new Frame.Grant("s" + i, r.nextBoolean(), r.nextInt(65536), randomString(r, 300)));
                }
                yield new Frame.ExposeResult(grants);
            }
            case ROUTE_LOGS -> {
                List<Frame.RouteLog> reports = new ArrayList<>();
                for (int i = 1 + r.nextInt(Frame.RouteLogs.MAX_REPORTS); i > 0; i--) {
                    reports.add((Frame.RouteLog) randomFrame(r, FrameType.ROUTE_LOG));
                }
                yield new Frame.RouteLogs(reports);
            }
            case ROUTE_LOG ->
                new Frame.RouteLog(
                        "s" + r.nextInt(100),
                        Frame.RouteVia.values()[r.nextInt(Frame.RouteVia.values().length)],
                        List.of("GET", "POST", "DELETE", "M-SEARCH").get(r.nextInt(4)),
                        Frame.RouteLog.loggablePath("/" + randomString(r, 400)),
                        r.nextInt(5) == 0 ? 0 : 100 + r.nextInt(900),
                        r.nextLong() & Long.MAX_VALUE,
                        r.nextLong() & Long.MAX_VALUE,
                        r.nextLong() & Long.MAX_VALUE,
                        r.nextLong() & Frame.RouteLog.MAX_SKIPPED);
        };
    }

    private static int window(Random r) {
        return 1 + r.nextInt(Integer.MAX_VALUE);
    }

    private static byte[] bytes(Random r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    private static String randomString(Random r, int maxBytes) {
        StringBuilder sb = new StringBuilder();
        int target = r.nextInt(maxBytes / 4 + 1);
        String alphabet = "abcxyz.-:/ éßλ€😀";
        while (sb.length() < target) {
            sb.appendCodePoint(alphabet.codePointAt(
                    alphabet.offsetByCodePoints(0, r.nextInt(alphabet.codePointCount(0, alphabet.length())))));
        }
        String s = sb.toString();
        while (s.getBytes(StandardCharsets.UTF_8).length > maxBytes) {
            s = s.substring(0, s.length() - 1);
        }
        return s;
    }

    private static byte[] toArray(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    @Test
    void randomFrameSequencesSurviveAnyChunkingOfTheByteStream() throws Exception {
        for (long seed = 0; seed < 200; seed++) {
            Random r = new Random(seed);
            List<Frame> frames = new ArrayList<>();
            int n = 1 + r.nextInt(40);
            for (int i = 0; i < n; i++) {
                frames.add(randomFrame(r));
            }
            ByteBuffer all = ByteBuffer.allocate(
                    frames.stream().mapToInt(codec::encodedLength).sum());
            frames.forEach(f -> codec.encode(f, all));
            byte[] wire = all.array();
            // feed in random chunks into a growing buffer, decoding whatever is whole
            ByteBuffer in = ByteBuffer.allocate(wire.length);
            List<Frame> decoded = new ArrayList<>();
            int fed = 0;
            int read = 0;
            while (fed < wire.length) {
                int chunk = Math.min(wire.length - fed, 1 + r.nextInt(500));
                in.put(fed, wire, fed, chunk);
                fed += chunk;
                ByteBuffer view = in.duplicate().position(read).limit(fed);
                Frame f;
                while ((f = codec.decodeNext(view)) != null) {
                    decoded.add(f);
                }
                read = view.position();
            }
            assertThat(read).isEqualTo(wire.length);
            assertThat(decoded).hasSameSizeAs(frames);
            for (int i = 0; i < frames.size(); i++) {
                assertThat(toArray(codec.encode(decoded.get(i))))
                        .as("seed %d frame %d", seed, i)
                        .isEqualTo(toArray(codec.encode(frames.get(i))));
            }
        }
    }

    /** The fallback fuzzer: seeded random mutations of valid frames (runs even where Jazzer cannot). */
    @Test
    void mutatedFramesDecodeCanonicallyOrAreRefused() {
        Random r = new Random(1234);
        FrameCodec small = new FrameCodec(Limits.defaults().withMaxPayload(4096));
        int refused = 0;
        int accepted = 0;
        for (int i = 0; i < 50_000; i++) {
            byte[] wire = toArray(codec.encode(randomFrame(r)));
            int mutations = 1 + r.nextInt(4);
            for (int m = 0; m < mutations; m++) {
                if (wire.length == 0) {
                    wire = new byte[1 + r.nextInt(30)];
                }
                switch (r.nextInt(4)) {
                    case 0 -> wire[r.nextInt(wire.length)] = (byte) r.nextInt(256);
                    case 1 -> wire[r.nextInt(Math.min(wire.length, 24))] ^= (byte) (1 << r.nextInt(8));
                    case 2 -> wire = java.util.Arrays.copyOf(wire, r.nextInt(wire.length + 1));
                    default -> wire = java.util.Arrays.copyOf(wire, wire.length + 1 + r.nextInt(8));
                }
            }
            try {
                Frame f = small.decodeMessage(ByteBuffer.wrap(wire));
                assertThat(toArray(small.encode(f))).isEqualTo(wire);
                accepted++;
            } catch (ProtocolException e) {
                assertThat(e.getMessage()).isNotBlank();
                refused++;
            }
        }
        assertThat(refused).isGreaterThan(1000);
        assertThat(accepted).isGreaterThan(100);
    }

    @Test
    void sessionFedRandomFramesOnlyEverThrowsProtocolException() {
        Random r = new Random(77);
        int errors = 0;
        for (int round = 0; round < 300; round++) {
            Recorder events = new Recorder();
            events.autoConsume = r.nextBoolean();
            Link link;
            try {
                link = new Link(Limits.defaults(), events, new Recorder()).connect();
            } catch (ProtocolException e) {
                throw new AssertionError(e);
            }
            Session client = link.client;
            try {
                for (int i = 0; i < 200 && !client.isClosed(); i++) {
                    if (r.nextInt(10) == 0) {
                        client.open("h", 1, events);
                    }
                    client.receive(plausibleFrame(r, client));
                }
            } catch (ProtocolException e) {
                errors++;
                assertThat(client.isClosed()).isTrue();
            }
        }
        assertThat(errors).isGreaterThan(10);
    }

    /** Frames a confused or hostile server might send: mostly in sequence, on small stream ids. */
    private static Frame plausibleFrame(Random r, Session s) {
        int stream = 1 + r.nextInt(8);
        long seq = s.lastReceivedSeq() + (r.nextInt(20) == 0 ? r.nextInt(3) : 1);
        return switch (r.nextInt(9)) {
            case 0 -> new Frame.Open(stream, seq, "h", 1, 1 + r.nextInt(1 << 20));
            case 1 -> new Frame.Accept(stream, seq, 1 + r.nextInt(1 << 20));
            case 2, 3 -> new Frame.Data(stream, seq, ByteBuffer.wrap(bytes(r, r.nextInt(70_000))), r.nextInt(5) == 0);
            case 4 -> new Frame.WindowUpdate(stream, seq, 1 + r.nextInt(Integer.MAX_VALUE));
            case 5 -> new Frame.Reset(stream, seq, ResetCode.CANCELLED, "x");
            case 6 -> new Frame.Ack(r.nextInt(5));
            case 7 -> new Frame.Ping(r.nextLong());
            default -> new Frame.Pong(r.nextLong());
        };
    }
}
