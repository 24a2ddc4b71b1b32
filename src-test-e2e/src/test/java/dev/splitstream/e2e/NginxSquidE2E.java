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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The deployment the product is for: the exit behind a real nginx (the shipped deploy/nginx config), the entry
 * behind a real squid as its outbound proxy (CONNECT only).
 */
@ExtendWith(NodeLogs.class)
class NginxSquidE2E {
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
