package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 11, attack 1: thousands of local connections into an entry forward, 1 MB each, to a target that never reads,
 * ran the entry out of heap in 5 s. With the node-wide buffer budget the entry keeps serving a connection made before
 * the flood, holds at most twice its budget, refuses what does not fit with a reason, and recovers once the flood has
 * gone (its half-closed, stalled streams are evicted after the stall time).
 */
@ExtendWith(NodeLogs.class)
class BufferBudgetE2E {
    private static final int FLOOD = 2000;
    private static final long MB = 1_000_000;

    @Test
    void aFloodIntoATargetThatNeverReadsLeavesTheEntryServingAndItRecovers() throws Exception {
        int echoForward = Ports.free();
        int holeForward = Ports.free();
        List<Socket> holeSockets = new CopyOnWriteArrayList<>();
        List<SocketChannel> flood = new ArrayList<>();
        try (Closer closer = new Closer();
                ServerSocket hole = new ServerSocket(0, 4096, InetAddress.getLoopbackAddress())) {
            TargetServer target = closer.add(new TargetServer());
            Thread acceptor = new Thread(() -> {
                while (!hole.isClosed()) {
                    try {
                        holeSockets.add(hole.accept()); // accepted, never read
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            Tunnel tunnel = closer.add(Tunnel.start(
                    exit -> exit.allow("127.0.0.1:" + target.port(), "127.0.0.1:" + hole.getLocalPort())
                            .maxStreams(4096),
                    entry -> entry.forward(echoForward, "127.0.0.1", target.port())
                            .forward(holeForward, "127.0.0.1", hole.getLocalPort())
                            .set("splitstream.buffer.budget", "16M")
                            .set("splitstream.buffer.stall-timeout", "3s")));
            var entry = tunnel.entry();
            entry.awaitLog("forwarding 127.0.0.1:" + holeForward, Duration.ofSeconds(10));

            // a connection made before the flood, echoing in pieces all through it
            try (Socket legit = Transfers.connect(echoForward, Duration.ofSeconds(30))) {
                DataOutputStream out = new DataOutputStream(legit.getOutputStream());
                DataInputStream in = new DataInputStream(legit.getInputStream());
                out.write('E');
                out.writeLong(1L << 40);
                out.flush();
                Random random = new Random(5);
                echoPiece(out, in, random);

                long maxHeld = 0;
                long refused = 0;
                ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
                for (int i = 0; i < FLOOD; i++) {
                    SocketChannel c =
                            SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), holeForward));
                    c.configureBlocking(false);
                    flood.add(c);
                }
                long[] written = new long[FLOOD];
                long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                int pieces = 0;
                while (System.nanoTime() < until) {
                    for (int i = 0; i < FLOOD; i++) {
                        SocketChannel c = flood.get(i);
                        if (written[i] < MB && c.isOpen()) {
                            try {
                                written[i] += c.write(chunk.clear());
                            } catch (IOException closedByTheEntry) {
                                refused++;
                                c.close();
                            }
                        }
                    }
                    echoPiece(out, in, random);
                    pieces++;
                    maxHeld = Math.max(maxHeld, (long) entry.metric("splitstream_entry_buffer_held_bytes"));
                }
                assertThat(entry.isAlive()).isTrue();
                double refusedByEntry = entry.metric("splitstream_entry_buffer_refused_total");
                long[] rss = entry.rssKb();
                figure(String.format(
                        "%d connections x 1 MB into a target that never reads (entry budget 16 MiB): %d MB taken, %.0f"
                                + " refused by the budget, at most %.1f MiB held, entry RSS %d MiB (peak %d);"
                                + " %d echoes of an earlier connection meanwhile",
                        FLOOD,
                        Arrays.stream(written).sum() / MB,
                        refusedByEntry,
                        maxHeld / 1048576.0,
                        rss[0] / 1024,
                        rss[1] / 1024,
                        pieces));
                assertThat(refusedByEntry).as("streams refused for the budget").isPositive();
                assertThat(maxHeld).as("bytes held by the entry").isLessThanOrEqualTo(2 * 16L * 1048576);
                assertThat(entry.logText()).doesNotContain("OutOfMemoryError");
                assertThat(entry.linesContaining("buffer budget spent")).isNotEmpty();

                for (SocketChannel c : flood) {
                    c.close();
                }
                // the clients left; their streams stall behind bytes nobody reads and are evicted
                await("the flood's streams end")
                        .atMost(Duration.ofSeconds(60))
                        .pollInterval(Duration.ofMillis(500))
                        .until(() -> entry.metric("splitstream_entry_buffer_leases") <= 1);
                echoPiece(out, in, random);
            }
            // new connections work again
            Transfers.echo(echoForward, 4L << 20, 8);
            assertThat(entry.linesContaining("buffer budget has room again")).isNotEmpty();
            assertThat(tunnel.exit().logText()).doesNotContain("OutOfMemoryError");
        } finally {
            for (SocketChannel c : flood) {
                c.close();
            }
            for (Socket s : holeSockets) {
                s.close();
            }
        }
    }

    /** 16 KiB through the echo connection and back, intact. */
    private static void echoPiece(DataOutputStream out, DataInputStream in, Random random) throws IOException {
        byte[] sent = new byte[16 * 1024];
        random.nextBytes(sent);
        out.write(sent);
        out.flush();
        byte[] got = new byte[sent.length];
        in.readFully(got);
        assertThat(got).isEqualTo(sent);
    }
}
