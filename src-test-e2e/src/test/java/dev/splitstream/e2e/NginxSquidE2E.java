package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.fixture.HttpFixture;
import dev.splitstream.e2e.fixture.NginxFixture;
import dev.splitstream.e2e.fixture.SquidFixture;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The deployment the product is for: the exit behind a real nginx (the shipped deploy/nginx config), the entry
 * behind a real squid as its outbound proxy (CONNECT only).
 */
@ExtendWith(NodeLogs.class)
class NginxSquidE2E {
    @Test
    void entryPingsKeepAnIdleTunnelUnderAPathPrefixThroughNginxOpen() throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            // the shipped 300 s, shortened so the test stays short; the rule is the same: pings more often than this.
            // And the README's recipe for sharing a host: the tunnel under a path prefix, stripped by nginx.
            NginxFixture nginx = closer.add(NginxFixture.start(
                    exit.httpPort(),
                    Map.of(
                            "proxy_read_timeout 300s;", "proxy_read_timeout 4s;",
                            "proxy_send_timeout 300s;", "proxy_send_timeout 4s;",
                            "location / {", "location /tunnel/ {",
                            "proxy_pass http://splitstream_exit;", "proxy_pass http://splitstream_exit/;")));
            Node entry = closer.add(NodeSpec.entry()
                            .token(token)
                            .server(nginx.wsUrl() + "/tunnel")
                            .forward(forward, "127.0.0.1", target.port())
                            .set("splitstream.entry.ping-interval", "1s")
                            .set("splitstream.entry.ping-timeout", "3s")
                            .start())
                    .awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));
            Transfers.echo(forward, 64 * 1024, 8);
            long idleUntil = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            await("10 s of idle tunnel")
                    .atMost(Duration.ofSeconds(15))
                    .pollInterval(Duration.ofMillis(500))
                    .until(() -> System.nanoTime() > idleUntil);
            Transfers.echo(forward, 64 * 1024, 9);
            assertThat(entry.linesContaining("connection to the exit node lost"))
                    .as("nginx never cut the idle tunnel (read timeout 4 s, pings every 1 s)")
                    .isEmpty();
            assertThat(entry.linesContaining("session resumed")).isEmpty();
            entry.stop(); // nginx logs a WebSocket when it ends
            await("nginx logs the prefixed WebSocket")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> nginx.accessLogText().contains("GET /tunnel/splitstream/v1/ws HTTP/1.1\" 101"));
        }
    }

    @Test
    void exitBehindNginxEntryBehindSquid() throws Exception {
        String curl = Programs.require("curl").toString();
        Programs.require("nginx");
        Programs.require("squid");
        String token = Tunnel.newToken();
        int forward = Ports.free();
        int socks = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            HttpFixture http = closer.add(new HttpFixture());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port(), "127.0.0.1:" + http.port())
                            .start())
                    .awaitReady();
            NginxFixture nginx = closer.add(NginxFixture.start(exit.httpPort()));
            SquidFixture squid = closer.add(SquidFixture.start());
            Node entry = closer.add(NodeSpec.entry()
                            .token(token)
                            .server(nginx.wsUrl())
                            .env("SPLITSTREAM_ENTRY_PROXY", squid.url())
                            .forward(forward, "127.0.0.1", target.port())
                            .socks(socks)
                            .reconnect("100ms", "1s")
                            .start())
                    .awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));

            Duration elapsed = Transfers.uploadAndDownload(forward, 32L * 1024 * 1024, 5, Duration.ofMinutes(2));
            figure(String.format("32 MiB each way via squid -> nginx -> exit: %.1f s", elapsed.toMillis() / 1000.0));
            Exec.Result viaSocks = Exec.run(
                            Duration.ofSeconds(60),
                            curl,
                            "-sS",
                            "--max-time",
                            "30",
                            "--socks5-hostname",
                            "127.0.0.1:" + socks,
                            http.url())
                    .assertSuccess();
            assertThat(viaSocks.output()).isEqualTo(HttpFixture.BODY);

            // nginx restarted in the middle of a transfer: the session resumes through squid and the new nginx
            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, 64L * 1024 * 1024, 6, Duration.ofMinutes(2));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            await("the transfer is under way")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> target.bytesIn() > 0 || transfer.isDone());
            assertThat(transfer)
                    .as("transfer still running when nginx restarts")
                    .isNotDone();
            nginx.restart();
            entry.awaitLog("session resumed", Duration.ofSeconds(30));
            Duration withRestart = transfer.get(2, TimeUnit.MINUTES);
            figure(String.format(
                    "64 MiB each way via squid -> nginx -> exit with nginx restarted mid-way: intact in %.1f s",
                    withRestart.toMillis() / 1000.0));

            // both proxies log a tunnel when it ends: stop the entry, then look
            entry.stop();
            await("nginx logs the WebSocket upgrade")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> nginx.accessLogText().contains("GET /splitstream/v1/ws HTTP/1.1\" 101"));
            await("squid logs the CONNECT to nginx")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> squid.accessLogText().contains("CONNECT 127.0.0.1:" + nginx.port()));
        }
    }
}
