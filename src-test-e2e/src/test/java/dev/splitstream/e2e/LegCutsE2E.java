package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each leg of a split session (and the single connection of the plain transports) goes through its own relay, which
 * the test cuts leg after leg during a transfer, each time the relays have carried another {@link #CUT_EVERY} bytes
 * (so a fast data path gets as many cuts as a slow one, and each cut follows progress): the bytes arrive intact.
 */
@ExtendWith(NodeLogs.class)
class LegCutsE2E {
    private static final long BYTES = 128L * 1024 * 1024;
    private static final long CUT_EVERY = 24L * 1024 * 1024;
    private static final int MAX_CUTS = 300;

    @ParameterizedTest(name = "{0}")
    @CsvSource({"websocket-split", "http-split", "http"})
    void transferSurvivesCutsOnEachLegInTurn(String kind) throws Exception {
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
            CuttingRelay up = closer.add(new CuttingRelay(exit.httpPort()));
            CuttingRelay down = closer.add(new CuttingRelay(exit.httpPort()));
            Node entry = closer.add(TransportFixtures.transport(
                                    NodeSpec.entry().bulkJvmFlags().token(token),
                                    kind,
                                    "127.0.0.1:" + up.port(),
                                    "127.0.0.1:" + down.port())
                            .forward(forward, "127.0.0.1", target.port())
                            .reconnect("100ms", "1s")
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, kind);

            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, BYTES, 91, Duration.ofMinutes(8));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            int upCuts = 0;
            int downCuts = 0;
            long nextCutAt = CUT_EVERY;
            for (int i = 0; i < MAX_CUTS && !transfer.isDone(); ) {
                try {
                    transfer.get(20, TimeUnit.MILLISECONDS);
                    break;
                } catch (TimeoutException stillRunning) {
                    // cut the next leg once both relays together carried another CUT_EVERY bytes
                }
                if (up.relayed() + down.relayed() < nextCutAt) {
                    continue;
                }
                nextCutAt = up.relayed() + down.relayed() + CUT_EVERY;
                boolean cutUp = i % 2 == 0 || !kind.endsWith("split"); // single-connection transports: the one relay
                i++;
                int cut = cutUp ? up.cut() : down.cut();
                if (cut > 0) {
                    if (cutUp) {
                        upCuts++;
                    } else {
                        downCuts++;
                    }
                }
            }
            Duration elapsed = transfer.get(8, TimeUnit.MINUTES);
            figure(String.format(
                    "%s: 128 MiB each way intact in %.1f s with %d cuts of the upstream relay and %d of the downstream"
                            + " relay (relay connections: %d up, %d down)",
                    kind, elapsed.toMillis() / 1000.0, upCuts, downCuts, up.accepted(), down.accepted()));
            assertThat(upCuts).as("upstream leg cut during the transfer").isPositive();
            if (kind.endsWith("split")) {
                assertThat(downCuts)
                        .as("downstream leg cut during the transfer")
                        .isPositive();
            }
        }
    }
}
