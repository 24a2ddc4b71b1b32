package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Application traffic for session tests: every stream carries a seeded pseudo-random byte sequence each way, written
 * in random-sized chunks that respect {@link Stream#write}'s back-pressure, and hashed (SHA-256) on both ends so a test
 * can prove byte-exact delivery.
 */
final class Traffic {

    /** One end of one stream: produces its outgoing bytes and hashes what arrives. */
    static final class Pump implements StreamHandler {
        final String name;
        final long toSend;
        final Random content;
        final Random chunks;
        final MessageDigest sentDigest = sha256();
        final MessageDigest receivedDigest = sha256();
        Stream stream;
        long sent;
        long received;
        long pendingConsume;
        boolean paused;
        boolean finished;
        boolean finReceived;
        boolean accepted;
        /** When false the test returns credit itself ({@link #release}). */
        boolean autoConsume = true;
        /** Once set, the reader stops returning credit altogether (a stalled reader). */
        boolean stalled;

        String failure;

        Pump(String name, long toSend, long seed) {
            this.name = name;
            this.toSend = toSend;
            this.content = new Random(seed);
            this.chunks = new Random(~seed);
        }

        /** Writes until the stream pushes back or everything is written, then finishes. */
        void produce() {
            if (stream == null || !accepted) {
                return;
            }
            while (!paused && sent < toSend) {
                int n = (int) Math.min(1 + chunks.nextInt(40_000), toSend - sent);
                byte[] b = new byte[n];
                content.nextBytes(b);
                sentDigest.update(b);
                sent += n;
                if (!stream.write(ByteBuffer.wrap(b))) {
                    paused = true;
                }
            }
            if (sent == toSend && !finished) {
                finished = true;
                stream.finish();
            }
        }

        void release(long max) {
            long n = Math.min(max, pendingConsume);
            if (n > 0 && !stalled) {
                pendingConsume -= n;
                stream.consumed((int) n);
            }
        }

        @Override
        public void onAccepted(Stream s) {
            accepted = true;
            produce();
        }

        @Override
        public void onData(Stream s, ByteBuffer data) {
            ByteBuffer d = data.duplicate();
            received += d.remaining();
            receivedDigest.update(d);
            pendingConsume += data.remaining();
            if (autoConsume && !stalled) {
                release(Long.MAX_VALUE);
            }
        }

        @Override
        public void onFin(Stream s) {
            finReceived = true;
        }

        @Override
        public void onReset(Stream s, ResetCode code, String message) {
            failure = name + " reset: " + code + " " + message;
        }

        @Override
        public void onWritable(Stream s) {
            paused = false;
            produce();
        }

        String sentHash() {
            return HexFormat.of().formatHex(copyOf(sentDigest).digest());
        }

        String receivedHash() {
            return HexFormat.of().formatHex(copyOf(receivedDigest).digest());
        }

        boolean done() {
            return finished && finReceived && stream.isClosed();
        }
    }

    /** One side's application: pumps by stream id; accepts what the peer opens with a pump of its own. */
    static final class Side implements SessionListener {
        final String name;
        final Map<Integer, Pump> pumps = new LinkedHashMap<>();
        final Random sizes;
        final long maxBytesPerStream;
        final List<String> failures = new ArrayList<>();
        boolean autoConsume = true;
        /** Streams whose reader on this side never returns credit. */
        final java.util.Set<Integer> stallIds = new java.util.HashSet<>();

        Side(String name, long seed, long maxBytesPerStream) {
            this.name = name;
            this.sizes = new Random(seed);
            this.maxBytesPerStream = maxBytesPerStream;
        }

        Pump open(Session session, long bytes) throws ProtocolException {
            Pump p = new Pump(name + " opened", bytes, sizes.nextLong());
            p.autoConsume = autoConsume;
            p.stream = session.open("target", 80, p);
            pumps.put(p.stream.id(), p);
            return p;
        }

        @Override
        public void onStreamOpened(Stream stream) {
            Pump p = new Pump(
                    name + " accepted " + stream.id(),
                    (long) (sizes.nextDouble() * maxBytesPerStream),
                    sizes.nextLong());
            p.autoConsume = autoConsume;
            p.stream = stream;
            p.stalled = stallIds.contains(stream.id());
            pumps.put(stream.id(), p);
            stream.accept(p);
            p.accepted = true;
            p.produce();
        }

        @Override
        public void onClosed(CloseCode code, String message) {
            failures.add(name + " session closed: " + code + " " + message);
        }

        void produceAll() {
            for (Pump p : pumps.values()) {
                p.produce();
            }
        }

        boolean done() {
            return pumps.values().stream().allMatch(Pump::done);
        }

        long bytesSent() {
            return pumps.values().stream().mapToLong(p -> p.sent).sum();
        }

        void check() {
            for (Pump p : pumps.values()) {
                if (p.failure != null) {
                    fail(p.failure);
                }
            }
            if (!failures.isEmpty()) {
                fail(failures.toString());
            }
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static MessageDigest copyOf(MessageDigest d) {
        try {
            return (MessageDigest) d.clone();
        } catch (CloneNotSupportedException e) {
            throw new IllegalStateException(e);
        }
    }

    private Traffic() {}
}
