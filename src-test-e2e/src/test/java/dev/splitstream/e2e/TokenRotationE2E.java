package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Token rotation without a restart: both nodes read their secret from SPLITSTREAM_TOKEN_FILE, laid out as a Kubernetes
 * Secret volume does it (the file is a symlink through {@code ..data}, which an update swaps atomically). The token
 * changes under a running transfer and the connection is cut: the session resumes, nothing is lost, new sessions use
 * the new secret, the old one is refused, and neither secret ever appears in a log.
 */
@ExtendWith(NodeLogs.class)
class TokenRotationE2E {
    private static final long MIB = 1024 * 1024;

    /** A directory laid out like a mounted Secret: {@code token -> ..data/token}, {@code ..data -> ..<version>}. */
    private static Path secretVolume(Path dir, String token) throws Exception {
        Files.createDirectories(dir);
        writeVersion(dir, "v1", token);
        Files.createSymbolicLink(dir.resolve("..data"), Path.of("..v1"));
        Files.createSymbolicLink(dir.resolve("token"), Path.of("..data/token"));
        return dir.resolve("token");
    }

    private static void writeVersion(Path dir, String version, String token) throws Exception {
        Path v = Files.createDirectories(dir.resolve(".." + version));
        Files.writeString(v.resolve("token"), token + "\n");
    }

    /** What the kubelet does on an update: a new version directory, then an atomic swap of {@code ..data}. */
    private static void rotate(Path dir, String version, String token) throws Exception {
        writeVersion(dir, version, token);
        Path tmp = dir.resolve("..data_tmp");
        Files.createSymbolicLink(tmp, Path.of(".." + version));
        Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void tokenRotatesUnderARunningTransferWithoutLosingAByte() throws Exception {
        String oldToken = Tunnel.newToken();
        String newToken = Tunnel.newToken();
        Path base = NodeLogs.dir();
        Path exitVolume = base.resolve("exit-secret");
        Path entryVolume = base.resolve("entry-secret");
        Path exitToken = secretVolume(exitVolume, oldToken);
        Path entryToken = secretVolume(entryVolume, oldToken);
        int forward = Ports.free();
        try (Closer closer = new Closer();
                TargetServer target = new TargetServer()) {
            NodeSpec exitSpec = NodeSpec.exit()
                    .set("splitstream.token-file", exitToken.toString())
                    .set("splitstream.exit.tokens-reload-interval", "500ms")
                    .allow("127.0.0.1:" + target.port());
            Node exit = closer.add(exitSpec.start());
            exit.awaitReady();
            CuttingRelay relay = closer.add(new CuttingRelay(exitSpec.httpPort()));
            Node entry = closer.add(NodeSpec.entry()
                    .set("splitstream.token-file", entryToken.toString())
                    .server("ws://127.0.0.1:" + relay.port())
                    .forward(forward, "127.0.0.1", target.port())
                    .reconnect("100ms", "1s")
                    .start());
            entry.awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));

            long bytes = 64 * MIB;
            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, bytes, 42, Duration.ofMinutes(3));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            await("a third of the transfer crossed")
                    .atMost(Duration.ofMinutes(2))
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> relay.relayed() >= 2 * bytes / 3 || transfer.isDone());
            assertThat(transfer).as("transfer still running at the rotation").isNotDone();
            rotate(exitVolume, "v2", newToken);
            rotate(entryVolume, "v2", newToken);
            exit.awaitLog("tokens reloaded", Duration.ofSeconds(30));
            entry.awaitLog("changed: the next new session uses the new secret", Duration.ofSeconds(30));
            assertThat(relay.cut()).as("connections cut").isGreaterThanOrEqualTo(1);
            entry.awaitLog("session resumed", Duration.ofSeconds(30));
            Duration elapsed = transfer.get(3, TimeUnit.MINUTES); // asserts both SHA-256 sums equal
            figure(String.format(
                    "token rotated under a 64 MiB each-way transfer and the connection cut: resumed, intact in %.1f s",
                    elapsed.toMillis() / 1000.0));
            assertThat(entry.linesContaining("session established")).hasSize(1);

            // New sessions prove the new secret: a fresh entry with it gets in, one with the old one is refused.
            Path oldFile = Files.writeString(base.resolve("old-token"), oldToken + "\n");
            try (Node stale = NodeSpec.entry("entry-old-token")
                    .set("splitstream.token-file", oldFile.toString())
                    .server(exit.wsUrl())
                    .start()) {
                stale.awaitLog("AUTH_FAILED", Duration.ofSeconds(30));
            }
            try (Node fresh = NodeSpec.entry("entry-new-token")
                    .set("splitstream.token-file", entryToken.toString())
                    .server(exit.wsUrl())
                    .start()) {
                fresh.awaitLog("session established", Duration.ofSeconds(30));
            }
            // The running entry's next new session uses the new secret too (the restarted exit forgot the old one).
            exit.restart().awaitReady();
            entry.awaitLogCount("session established", 2, Duration.ofSeconds(30));
            Transfers.echo(forward, MIB, 7);
            assertThat(entry.linesContaining("AUTH_FAILED")).isEmpty();

            for (Node node : new Node[] {exit, entry}) {
                assertThat(node.logText()).doesNotContain(oldToken).doesNotContain(newToken);
            }
        }
    }
}
