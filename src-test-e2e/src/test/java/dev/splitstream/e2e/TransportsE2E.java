package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every transport of issue 4 carries a large transfer each way at once, intact (SHA-256), entry straight to exit. */
@ExtendWith(NodeLogs.class)
class TransportsE2E {
    @ParameterizedTest(name = "{0}: {1} MiB each way")
    @CsvSource({"websocket, 256", "websocket-split, 256", "http, 256", "http-split, 256"})
    void largeTransferEachWayIsIntact(String kind, long mebibytes) throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .bulkJvmFlags()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            String exitAddress = "127.0.0.1:" + exit.httpPort();
            Node entry = closer.add(TransportFixtures.transport(
                                    NodeSpec.entry().bulkJvmFlags().token(token), kind, exitAddress, exitAddress)
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, kind);

            Duration elapsed = Transfers.uploadAndDownload(
                    forward, mebibytes * 1024 * 1024, 40 + mebibytes, Duration.ofMinutes(8));
            double seconds = elapsed.toMillis() / 1000.0;
            figure(String.format(
                    "%s: %d MiB each way at once intact in %.1f s (%.1f MiB/s each way)",
                    kind, mebibytes, seconds, mebibytes / seconds));
        }
    }

    /**
     * An exit that announces 16 upstream POSTs in flight gets more than the 7 the entry's former pool of 8 connections
     * allowed (one GET and the POSTs, one request per HTTP/1.1 connection): counted as the entry's connections to the
     * exit's port (ss) while a bulk upload runs.
     */
    @Test
    void anExitAnnouncingSixteenPostsGetsMoreThanSevenConnectionsOfThem() throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .bulkJvmFlags()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .set("splitstream.exit.http.upstream-in-flight", "16")
                            .start())
                    .awaitReady();
            String exitAddress = "127.0.0.1:" + exit.httpPort();
            Node entry = closer.add(TransportFixtures.transport(
                                    NodeSpec.entry().bulkJvmFlags().token(token), "http", exitAddress, exitAddress)
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, "http");

            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger most = new AtomicInteger();
            Thread sampler = new Thread(() -> {
                // bounded: the transfer below ends within its timeout, then running turns false
                while (running.get()) {
                    String out = Exec.run(
                                    Duration.ofSeconds(10),
                                    "ss",
                                    "-Htn",
                                    "state",
                                    "established",
                                    "( dport = :" + exit.httpPort() + " )")
                            .output();
                    int n = (int) out.lines().filter(l -> !l.isBlank()).count();
                    most.accumulateAndGet(n, Math::max);
                }
            });
            sampler.start();
            try {
                Transfers.uploadAndDownload(forward, 128L * 1024 * 1024, 77, Duration.ofMinutes(4));
            } finally {
                running.set(false);
                sampler.join(20_000);
            }
            figure("entry connections to an exit announcing 16 POSTs in flight: at most " + most.get());
            assertThat(most.get())
                    .as("the entry's connections to the exit during a bulk upload (8 = the former pool's cap)")
                    .isGreaterThan(8);
        }
    }
}
