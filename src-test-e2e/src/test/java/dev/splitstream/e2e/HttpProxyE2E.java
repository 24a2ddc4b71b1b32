package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The plain-HTTP transport with a real squid as the entry's outbound proxy. */
@ExtendWith(NodeLogs.class)
class HttpProxyE2E {
    @Test
    void httpTransportThroughSquid() throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.Squid squid = closer.add(TransportFixtures.Squid.start());
            Node entry = closer.add(NodeSpec.entry()
                            .token(token)
                            .server(exit.httpUrl())
                            .set("splitstream.entry.transport", "http")
                            .proxy(squid.url())
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, "http");
            Duration elapsed = Transfers.uploadAndDownload(forward, 16L * 1024 * 1024, 101, Duration.ofMinutes(4));
            figure(String.format("http via squid: 16 MiB each way intact in %.1f s", elapsed.toMillis() / 1000.0));
            entry.stop();
            await("squid logged the tunnel's requests")
                    .atMost(Duration.ofSeconds(20))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> squid.accessLog().contains("/splitstream/v1/http/")
                            || squid.accessLog().contains("CONNECT 127.0.0.1:" + exit.httpPort()));
            assertThat(squid.accessLog()).doesNotContain(token);
        }
    }
}
