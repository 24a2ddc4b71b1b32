package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.NginxFixture;
import dev.splitstream.e2e.fixture.TlsFiles;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** wss:// through nginx terminating TLS with a private CA: trusted with --ca-file, refused without. */
@ExtendWith(NodeLogs.class)
class TlsE2E {
    @Test
    void wssThroughNginxWithAPrivateCa() throws Exception {
        Programs.require("nginx");
        String token = Tunnel.newToken();
        int forward = Ports.free();
        int untrustedForward = Ports.free();
        try (Closer closer = new Closer()) {
            Path dir = Files.createDirectories(NodeLogs.dir().resolve("tls"));
            TlsFiles tls = TlsFiles.generate(dir);
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            NginxFixture nginx = closer.add(NginxFixture.startTls(exit.httpPort(), tls));

            Node entry = closer.add(NodeSpec.entry()
                            .token(token)
                            .server(nginx.wssUrl())
                            .set("splitstream.entry.ca-file", tls.caCert().toString())
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));
            Transfers.uploadAndDownload(forward, 16L * 1024 * 1024, 13, Duration.ofMinutes(1));

            Node untrusting = closer.add(NodeSpec.entry("entry-without-ca")
                    .token(token)
                    .server(nginx.wssUrl())
                    .forward(untrustedForward, "127.0.0.1", target.port())
                    .start());
            untrusting.awaitLog("cannot connect", Duration.ofSeconds(60));
            assertThat(untrusting.linesContaining("session established")).isEmpty();
            assertThat(exit.linesContaining("opened token=")).hasSize(1);
        }
    }
}
