package dev.splitstream.protocol;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Throughput harness for the codec and for two sessions moving bytes over an in-memory transport, on one thread. Not a
 * test: run it with {@code bench/protocol.sh}. Each case warms up, then reports the median and best of several timed
 * rounds in GB/s of DATA payload (1 GB = 10^9 bytes).
 */
public final class ProtocolBench {
    private static final int PAYLOAD = 32 * 1024;
    private static long sink; // defeats dead-code elimination

    private ProtocolBench() {}

    /** One benchmark case: moves some payload bytes per call and returns how many. */
    @FunctionalInterface
    interface Case {
        long run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        boolean quick = args.length > 0 && args[0].equals("--quick");
        long warmupNanos = quick ? 500_000_000L : 3_000_000_000L;
        long roundNanos = quick ? 300_000_000L : 1_000_000_000L;
        int rounds = quick ? 3 : 7;
        System.out.printf(
                Locale.ROOT,
                "java %s, %s, %d-byte DATA payloads, %d rounds of %d ms%n",
                System.getProperty("java.version"),
                System.getProperty("os.arch"),
                PAYLOAD,
                rounds,
                roundNanos / 1_000_000);

        FrameCodec codec = new FrameCodec(Limits.defaults());
        byte[] payloadBytes = Frames.bytes(PAYLOAD, 5);
        Frame.Data frame = new Frame.Data(1, 42, ByteBuffer.wrap(payloadBytes), false);
        ByteBuffer heapOut = ByteBuffer.allocate(FrameCodec.HEADER_LENGTH + PAYLOAD);
        ByteBuffer directOut = ByteBuffer.allocateDirect(FrameCodec.HEADER_LENGTH + PAYLOAD);
        ByteBuffer header = ByteBuffer.allocate(FrameCodec.HEADER_LENGTH);
        ByteBuffer encoded = codec.encode(frame);

        measure("encode DATA into a heap buffer (copies the payload)", warmupNanos, roundNanos, rounds, () -> {
            long n = 0;
            for (int i = 0; i < 64; i++) {
                heapOut.clear();
                codec.encode(frame, heapOut);
                n += PAYLOAD;
            }
            sink += heapOut.position();
            return n;
        });
        measure("encode DATA into a direct buffer (copies the payload)", warmupNanos, roundNanos, rounds, () -> {
            long n = 0;
            for (int i = 0; i < 64; i++) {
                directOut.clear();
                codec.encode(frame, directOut);
                n += PAYLOAD;
            }
            sink += directOut.position();
            return n;
        });
        // 2048 distinct payloads (64 MiB): the source is not in the CPU cache, as with bytes fresh from a socket
        Frame.Data[] cold = new Frame.Data[2048];
        for (int i = 0; i < cold.length; i++) {
            cold[i] = new Frame.Data(1, 42, ByteBuffer.wrap(Frames.bytes(PAYLOAD, i)), false);
        }
        int[] next = {0};
        measure("encode DATA, payloads not in cache (64 MiB set)", warmupNanos, roundNanos, rounds, () -> {
            long n = 0;
            for (int i = 0; i < 64; i++) {
                heapOut.clear();
                codec.encode(cold[next[0]++ & (cold.length - 1)], heapOut);
                n += PAYLOAD;
            }
            sink += heapOut.position();
            return n;
        });
        measure("encodeHeader only (payload untouched, sent apart)", warmupNanos, roundNanos, rounds, () -> {
            long n = 0;
            for (int i = 0; i < 64; i++) {
                header.clear();
                codec.encodeHeader(frame, header);
                n += PAYLOAD;
            }
            sink += header.position();
            return n;
        });
        measure("decodeMessage DATA (payload is a slice)", warmupNanos, roundNanos, rounds, () -> {
            long n = 0;
            for (int i = 0; i < 64; i++) {
                Frame.Data d = (Frame.Data) codec.decodeMessage(encoded.duplicate());
                n += d.payload().remaining();
            }
            return n;
        });
        measure("encode + decodeMessage DATA round trip", warmupNanos, roundNanos, rounds, () -> {
            long n = 0;
            for (int i = 0; i < 64; i++) {
                heapOut.clear();
                codec.encode(frame, heapOut);
                Frame.Data d = (Frame.Data) codec.decodeMessage(heapOut.flip());
                n += d.payload().remaining();
            }
            return n;
        });

        FrameCodec deflating = codec.withDeflate(Deflate.defaults());
        byte[] text = ("GET /api/items?page=2 HTTP/1.1\r\nHost: service.internal\r\nAccept: application/json\r\n\r\n"
                        + "{\"id\": 12345, \"name\": \"example\", \"tags\": [\"a\", \"b\"]}\n")
                .repeat(400)
                .substring(0, PAYLOAD)
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        Frame.Data textFrame = new Frame.Data(1, 42, ByteBuffer.wrap(text), false);
        measure("deflate level 1 + inflate, 32 KiB of HTTP-like text", warmupNanos, roundNanos, rounds, () -> {
            Frame.Data d = (Frame.Data) deflating.decodeMessage(deflating.encode(textFrame));
            return d.payload().remaining();
        });

        Pipe objects = new Pipe(null, payloadBytes);
        measure("session -> session, frames handed over as objects", warmupNanos, roundNanos, rounds, objects::pump);
        Pipe wire = new Pipe(codec, payloadBytes);
        measure("session -> session, every frame encoded and decoded", warmupNanos, roundNanos, rounds, wire::pump);
        System.out.println("(checksum " + (sink & 0xFF) + ")");
    }

    /**
     * Two sessions, one stream; the client writes 32 KiB buffers as fast as the window allows, the server consumes at
     * once. Frames go through a queue per direction, optionally encoded into one reused buffer and decoded from it.
     */
    private static final class Pipe implements StreamHandler, SessionListener {
        final FrameCodec codec;
        final byte[] payload;
        final ArrayDeque<Frame> toServer = new ArrayDeque<>();
        final ArrayDeque<Frame> toClient = new ArrayDeque<>();
        final ByteBuffer wireBuffer =
                ByteBuffer.allocate(FrameCodec.HEADER_LENGTH + Limits.defaults().maxPayload());
        final Session client;
        final Session server;
        final Stream stream;
        long received;

        Pipe(FrameCodec codec, byte[] payload) throws ProtocolException {
            this.codec = codec;
            this.payload = payload;
            Link link = new Link(Limits.defaults(), this, this);
            this.client = link.client;
            this.server = link.server;
            client.attach(toServer::add, 0);
            server.attach(toClient::add, 0);
            stream = client.open("bench", 1, this);
            deliver();
        }

        @Override
        public void onStreamOpened(Stream s) {
            s.accept(this);
        }

        @Override
        public void onData(Stream s, ByteBuffer data) {
            int n = data.remaining();
            received += n;
            s.consumed(n);
        }

        @Override
        public void onFin(Stream s) {}

        @Override
        public void onReset(Stream s, ResetCode code, String message) {
            throw new IllegalStateException("reset " + code + " " + message);
        }

        long pump() throws ProtocolException {
            long before = received;
            for (int i = 0; i < 64; i++) {
                while (stream.isWritable()) {
                    stream.write(ByteBuffer.wrap(payload));
                }
                if (!deliver()) {
                    client.flushAck();
                    server.flushAck();
                    deliver();
                }
            }
            return received - before;
        }

        private boolean deliver() throws ProtocolException {
            boolean moved = false;
            Frame f;
            while ((f = toServer.poll()) != null) {
                server.receive(wire(f));
                moved = true;
            }
            while ((f = toClient.poll()) != null) {
                client.receive(wire(f));
                moved = true;
            }
            return moved;
        }

        private Frame wire(Frame f) throws ProtocolException {
            if (codec == null) {
                return f;
            }
            wireBuffer.clear();
            codec.encode(f, wireBuffer);
            return codec.decodeMessage(wireBuffer.flip());
        }
    }

    private static void measure(String name, long warmupNanos, long roundNanos, int rounds, Case c) throws Exception {
        long end = System.nanoTime() + warmupNanos;
        while (System.nanoTime() < end) {
            c.run();
        }
        List<Double> gbps = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            long bytes = 0;
            long start = System.nanoTime();
            long stop = start + roundNanos;
            long now;
            do {
                bytes += c.run();
                now = System.nanoTime();
            } while (now < stop);
            gbps.add(bytes / (double) (now - start));
        }
        Collections.sort(gbps);
        System.out.printf(
                Locale.ROOT,
                "%-56s median %7.2f GB/s   best %7.2f GB/s%n",
                name,
                gbps.get(gbps.size() / 2),
                gbps.get(gbps.size() - 1));
    }
}
