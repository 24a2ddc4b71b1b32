package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.DataOutputStream;
import java.net.Socket;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Bytes through a fixed forward arrive intact: one large transfer each way, and many connections at once. */
@ExtendWith(NodeLogs.class)
class ForwardTransferE2E {
    private static final long MIB = 1024 * 1024;

    private static TargetServer target;
    private static Tunnel tunnel;
    private static int forwardPort;

    @BeforeAll
    static void startTunnel() throws Exception {
        target = new TargetServer();
        forwardPort = Ports.free();
        tunnel = Tunnel.start(
                exit -> exit.bulkJvmFlags().allow("127.0.0.1:" + target.port()),
                entry -> entry.bulkJvmFlags().forward(forwardPort, "127.0.0.1", target.port()));
        tunnel.entry().awaitLog("forwarding 127.0.0.1:" + forwardPort, Duration.ofSeconds(10));
    }

    @AfterAll
    static void stopTunnel() throws Exception {
        if (tunnel != null) {
            tunnel.close();
        }
        if (target != null) {
            target.close();
        }
    }

    @Test
    void healthAndMetricsAnswerOnTheManagementPortOnly() {
        // issue 11, attack 7: the public tunnel port gave session counts, byte counters and failure reasons to anyone
        for (String path : new String[] {"/q/metrics", "/q/health", "/q/health/ready", "/q/health/live"}) {
            assertThat(tunnel.exit().httpStatus(path))
                    .as("GET %s on the tunnel port", path)
                    .isEqualTo(404);
            assertThat(tunnel.exit().managementStatus(path))
                    .as("GET %s on the exit's management port", path)
                    .isEqualTo(200);
            assertThat(tunnel.entry().managementStatus(path))
                    .as("GET %s on the entry's management port", path)
                    .isEqualTo(200);
        }
        assertThat(tunnel.exit().metrics()).contains("splitstream_exit_sessions 1.0");
        assertThat(tunnel.entry().metrics()).contains("splitstream_entry_connected 1.0");
        // the entry serves no HTTP port besides management
        assertThat(tunnel.entry().httpStatus("/q/metrics")).isEqualTo(-1);
    }

    @Test
    void transferOf256MibEachWayKeepsItsSha256() throws Exception {
        long bytes = 256 * MIB;
        Duration elapsed = Transfers.uploadAndDownload(forwardPort, bytes, 42, Duration.ofMinutes(4));
        double seconds = elapsed.toMillis() / 1000.0;
        figure(String.format(
                "256 MiB up + 256 MiB down at once through a forward: %.1f s, %.0f MiB/s each way",
                seconds, 256 / seconds));
        assertThat(tunnel.exit().metric("splitstream_exit_bytes_total", ""))
                .as("exit's byte counters, both directions")
                .isGreaterThanOrEqualTo(2.0 * bytes);
        long[] exitRss = tunnel.exit().rssKb();
        long[] entryRss = tunnel.entry().rssKb();
        figure("after 256 MiB each way: exit RSS " + exitRss[0] / 1024 + " MiB (peak " + exitRss[1] / 1024
                + "), entry RSS " + entryRss[0] / 1024 + " MiB (peak " + entryRss[1] / 1024 + ")");
    }

    @Test
    void aReaderThatStopsReadingStallsOnlyItsOwnStream() throws Exception {
        long sentBefore = target.bytesOut();
        try (Socket stalled = Transfers.connect(forwardPort, Duration.ofSeconds(30))) {
            // ask for 1 GiB and never read it: only this stream's window and socket buffers fill
            DataOutputStream out = new DataOutputStream(stalled.getOutputStream());
            out.write('D');
            out.writeLong(1024 * MIB);
            out.writeLong(1);
            out.flush();
            // the target pushes until the stream's window and the socket buffers on the way are full, then blocks
            await("the stalled download filled its stream")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> target.bytesOut() - sentBefore > MIB);
            Duration elapsed = Transfers.uploadAndDownload(forwardPort, 32 * MIB, 77, Duration.ofMinutes(1));
            figure(String.format(
                    "32 MiB each way next to a stalled 1 GiB download on the same session: %.1f s",
                    elapsed.toMillis() / 1000.0));
            long stalledAt = target.bytesOut() - sentBefore;
            figure("the stalled stream took " + stalledAt / 1024 + " KiB from the target before it blocked");
            assertThat(stalledAt)
                    .as("bytes buffered for a reader that reads nothing")
                    .isLessThan(96 * MIB); // 16 MiB stream window at most, plus kernel socket buffers
            assertThat(tunnel.exit().isAlive()).isTrue();
            assertThat(tunnel.entry().isAlive()).isTrue();
        }
    }

    @Test
    void sixtyFourParallelConnectionsOfRandomSizesArriveIntact() throws Exception {
        int acceptedBefore = target.accepted();
        long started = System.nanoTime();
        long total = Transfers.parallelEchoes(forwardPort, 64, 4 * (int) MIB, 7, Duration.ofMinutes(3));
        double seconds = (System.nanoTime() - started) / 1e9;
        figure(String.format("64 parallel echo connections, %d MiB in total, intact in %.1f s", total / MIB, seconds));
        assertThat(target.accepted() - acceptedBefore).isEqualTo(64);
    }
}
