package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Legitimate bulk streams whose target pauses are held back, never reset. Each stream's receive window grows while
 * its target keeps up (auto-tuning, up to 16 MiB); when the targets then pause together, the peer may still send
 * everything those windows allow. Before windows grew only as far as the buffer budget backs them, eight streams that
 * had each run alone at full speed could be granted more than twice the exit's budget (12 MiB with the shipped flags),
 * and the exit reset them: "the node's buffer budget is spent ... and this stream's reader does not keep up" (first
 * seen in {@code bench/ab.sh}'s warm-up on a loaded host). Now they wait, and every byte arrives once the targets read
 * again.
 */
@ExtendWith(NodeLogs.class)
class PausedReadersE2E {
    private static final int STREAMS = 8;
    /** Bytes each stream sends alone first, so that its window grows. */
    private static final long RAMP = 96L << 20;
    /** Bytes each stream then sends while the targets pause (more than its window may take). */
    private static final long PAUSED = 24L << 20;

    @Test
    void bulkStreamsWhoseTargetsPauseTogetherWaitInsteadOfBeingReset() throws Exception {
        int forward = Ports.free();
        AtomicBoolean paused = new AtomicBoolean();
        List<Received> received = new CopyOnWriteArrayList<>();
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "paused-readers");
            t.setDaemon(true);
            return t;
        });
        try (Closer closer = new Closer();
                ServerSocket target = new ServerSocket(0, 64, InetAddress.getLoopbackAddress())) {
            pool.submit(() -> {
                while (!target.isClosed()) {
                    Socket s;
                    try {
                        s = target.accept();
                    } catch (IOException e) {
                        return;
                    }
                    Received r = new Received();
                    received.add(r);
                    pool.submit(() -> r.readAll(s, paused));
                }
            });
            Tunnel tunnel = closer.add(Tunnel.start(
                    exit -> exit.allow("127.0.0.1:" + target.getLocalPort()).shippedJvmFlags(),
                    entry -> entry.forward(forward, "127.0.0.1", target.getLocalPort())
                            .shippedJvmFlags()));
            tunnel.entry().awaitLog("forwarding 127.0.0.1:" + forward, Duration.ofSeconds(20));

            List<Socket> clients = new ArrayList<>();
            List<Sent> sent = new ArrayList<>();
            for (int i = 0; i < STREAMS; i++) {
                Socket c = closer.add(Transfers.connect(forward, Duration.ofSeconds(15)));
                clients.add(c);
                sent.add(new Sent(i));
            }
            await("all streams at the target").atMost(Duration.ofSeconds(20)).until(() -> received.size() == STREAMS);
            // one stream after the other at full speed: each window grows as far as it is allowed to
            for (int i = 0; i < STREAMS; i++) {
                sent.get(i).send(clients.get(i).getOutputStream(), RAMP);
            }
            await("the ramp arrived").atMost(Duration.ofSeconds(60)).until(() -> arrived(received) == STREAMS * RAMP);

            // the targets pause; every stream pushes more than its window
            paused.set(true);
            List<Future<?>> writers = new ArrayList<>();
            for (int i = 0; i < STREAMS; i++) {
                OutputStream out = clients.get(i).getOutputStream();
                Sent s = sent.get(i);
                writers.add(pool.submit(() -> {
                    s.send(out, PAUSED);
                    out.flush();
                    return null;
                }));
            }
            double limit = tunnel.exit().metric("splitstream_exit_buffer_limit_bytes");
            AtomicLong maxHeld = new AtomicLong();
            long[] last = {-1};
            long[] stableSince = {System.nanoTime()};
            // until the tunnel takes no more: the windows are used up (bounded in time either way)
            await("the tunnel stops taking bytes")
                    .atMost(Duration.ofSeconds(40))
                    .pollInterval(Duration.ofMillis(250))
                    .until(() -> {
                        maxHeld.accumulateAndGet(
                                (long) tunnel.exit().metric("splitstream_exit_buffer_held_bytes"), Math::max);
                        long now = sentTotal(sent);
                        if (now != last[0]) {
                            last[0] = now;
                            stableSince[0] = System.nanoTime();
                        }
                        return System.nanoTime() - stableSince[0] > TimeUnit.SECONDS.toNanos(3);
                    });
            Transfers.figure(String.format(
                    "paused readers: %d streams, %.1f MiB sent, exit held at most %.1f MiB (budget %.1f MiB)",
                    STREAMS, sentTotal(sent) / 1048576.0, maxHeld.get() / 1048576.0, limit / 1048576.0));
            assertThat(tunnel.exit().linesContaining("does not keep up"))
                    .as("no stream reset for a reader that paused")
                    .isEmpty();
            assertThat(maxHeld.get())
                    .as("bytes the exit held while its targets paused")
                    .isLessThanOrEqualTo((long) (2 * limit));

            paused.set(false);
            for (Future<?> w : writers) {
                w.get(60, TimeUnit.SECONDS);
            }
            for (Socket c : clients) {
                c.shutdownOutput();
            }
            await("every byte at the target").atMost(Duration.ofSeconds(60)).until(() -> received.stream()
                    .allMatch(r -> r.done));
            List<String> expected = new ArrayList<>();
            for (Sent s : sent) {
                expected.add(s.count + ":" + Long.toHexString(s.crc.getValue()));
            }
            List<String> actual = new ArrayList<>();
            for (Received r : received) {
                actual.add(r.count.get() + ":" + Long.toHexString(r.crc.getValue()));
            }
            assertThat(actual).as("bytes and CRC32 per stream").containsExactlyInAnyOrderElementsOf(expected);
            assertThat(tunnel.exit().linesContaining("does not keep up")).isEmpty();
            assertThat(tunnel.entry().linesContaining("does not keep up")).isEmpty();
        } finally {
            pool.shutdownNow();
        }
    }

    private static long arrived(List<Received> received) {
        return received.stream().mapToLong(r -> r.count.get()).sum();
    }

    private static long sentTotal(List<Sent> sent) {
        return sent.stream().mapToLong(s -> s.count).sum();
    }

    /** What one client wrote: pseudo-random bytes, counted and checksummed. */
    private static final class Sent {
        private final Random random;
        private final CRC32 crc = new CRC32();
        private volatile long count;

        Sent(int seed) {
            random = new Random(seed);
        }

        void send(OutputStream out, long bytes) throws IOException {
            byte[] chunk = new byte[64 * 1024];
            for (long left = bytes; left > 0; ) {
                int n = (int) Math.min(chunk.length, left);
                random.nextBytes(chunk);
                out.write(chunk, 0, n);
                crc.update(chunk, 0, n);
                count += n;
                left -= n;
            }
        }
    }

    /** What the target read from one connection. */
    private static final class Received {
        private final AtomicLong count = new AtomicLong();
        private final CRC32 crc = new CRC32();
        private volatile boolean done;

        void readAll(Socket s, AtomicBoolean paused) {
            try (s;
                    InputStream in = s.getInputStream()) {
                byte[] buf = new byte[64 * 1024];
                while (true) {
                    while (paused.get()) {
                        Thread.sleep(20); // the target stops reading: the tunnel must hold back, not reset
                    }
                    int n = in.read(buf);
                    if (n < 0) {
                        break;
                    }
                    crc.update(buf, 0, n);
                    count.addAndGet(n);
                }
                done = true;
            } catch (IOException | InterruptedException e) {
                // a reset stream ends here; the byte counts tell
            }
        }
    }
}
