package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Open streams survive a cut WebSocket; the entry comes back after the exit restarts. */
@ExtendWith(NodeLogs.class)
class ResilienceE2E {
    private static final long MIB = 1024 * 1024;

    @Test
    void transferSurvivesTheWebSocketBeingCutTwice() throws Exception {
        int forward = Ports.free();
        AtomicReference<CuttingRelay> relayRef = new AtomicReference<>();
        try (TargetServer target = new TargetServer();
                Tunnel tunnel = Tunnel.start(
                        exit -> {
                            try {
                                relayRef.set(new CuttingRelay(exit.httpPort()));
                            } catch (java.io.IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                            exit.allow("127.0.0.1:" + target.port());
                        },
                        entry -> entry.server("ws://127.0.0.1:" + relayRef.get().port())
                                .forward(forward, "127.0.0.1", target.port())
                                .reconnect("100ms", "1s"));
                CuttingRelay relay = relayRef.get()) {
            long bytes = 96 * MIB;
            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, bytes, 99, Duration.ofMinutes(3));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            for (int cut = 1; cut <= 2; cut++) {
                long threshold = cut * bytes / 2; // of the 2 x 96 MiB that cross the relay
                await("relay carried " + threshold / MIB + " MiB")
                        .atMost(Duration.ofMinutes(2))
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> relay.relayed() >= threshold || transfer.isDone());
                assertThat(transfer).as("transfer still running at cut %d", cut).isNotDone();
                assertThat(relay.cut()).as("connections cut").isGreaterThanOrEqualTo(1);
                long cutAt = System.nanoTime();
                tunnel.entry().awaitLogCount("session resumed", cut, Duration.ofSeconds(30));
                figure(String.format(
                        "cut %d at %d MiB relayed: session resumed after %d ms",
                        cut, relay.relayed() / MIB, (System.nanoTime() - cutAt) / 1_000_000));
            }
            Duration elapsed = transfer.get(3, TimeUnit.MINUTES);
            figure(String.format(
                    "96 MiB each way with two WebSocket cuts: intact in %.1f s", elapsed.toMillis() / 1000.0));
            assertThat(relay.accepted()).isGreaterThanOrEqualTo(3);
            assertThat(tunnel.entry().linesContaining("session established")).hasSize(1);
            assertThat(tunnel.entry().metric("splitstream_entry_reconnects_total", ""))
                    .isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    void entryReturnsAfterTheExitIsKilledAndRestarted() throws Exception {
        int forward = Ports.free();
        try (TargetServer target = new TargetServer();
                Tunnel tunnel = Tunnel.start(exit -> exit.allow("127.0.0.1:" + target.port()), entry -> entry.forward(
                                forward, "127.0.0.1", target.port())
                        .reconnect("100ms", "2s"))) {
            Transfers.echo(forward, MIB, 1);
            tunnel.exit().kill();
            // the entry notices and retries while the exit is down
            await("the entry reports the tunnel down")
                    .atMost(Duration.ofSeconds(90))
                    .until(() -> !tunnel.entry().metrics().contains("splitstream_entry_connected 1.0"));
            tunnel.exit().restart().awaitReady();
            long ready = System.nanoTime();
            tunnel.entry().awaitLogCount("session established", 2, Duration.ofSeconds(20));
            long backAfterMs = (System.nanoTime() - ready) / 1_000_000;
            figure("exit killed and restarted: entry back " + backAfterMs + " ms after the exit was ready"
                    + " (reconnect-max 2s)");
            // the backoff is capped at 2 s; allow a handshake and a slow machine on top
            assertThat(backAfterMs).isLessThan(2_000 + 5_000);
            Transfers.echo(forward, 4 * MIB, 2);
            Transfers.parallelEchoes(forward, 8, 256 * 1024, 3, Duration.ofSeconds(60));
            assertThat(tunnel.entry().metric("splitstream_entry_connected", "")).isEqualTo(1);
        }
    }

    @Test
    void exitForgetsAKilledEntrysSessionAfterTheResumeTimeout() throws Exception {
        int forward = Ports.free();
        try (TargetServer target = new TargetServer();
                Tunnel tunnel = Tunnel.start(
                        exit -> exit.allow("127.0.0.1:" + target.port()).set("splitstream.exit.resume-timeout", "3s"),
                        entry -> entry.forward(forward, "127.0.0.1", target.port()))) {
            Transfers.echo(forward, MIB, 4);
            tunnel.entry().kill();
            tunnel.exit().awaitLog("detached", Duration.ofSeconds(30));
            tunnel.entry().restart().awaitReady();
            tunnel.entry().awaitLogCount("session established", 2, Duration.ofSeconds(30));
            // the killed entry's session waits 3 s for a resume that never comes, then goes with its streams
            await("the exit drops the abandoned session")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> tunnel.exit().metric("splitstream_exit_sessions", "") == 1);
            assertThat(tunnel.exit().linesContaining("closed")).isNotEmpty();
            Transfers.echo(forward, MIB, 5);
        }
    }
}
