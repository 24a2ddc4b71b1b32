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
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The exit behind the shipped deploy/nginx/buffering-exit.conf: no Upgrade header passed, requests and responses
 * buffered, X-Accel-Buffering ignored. The plain-HTTP transport still works (long polls instead of a stream), and
 * {@code transport=auto} settles on it.
 */
@ExtendWith(NodeLogs.class)
class HttpBufferingE2E {
    private static final long BYTES = 8L * 1024 * 1024;

    @Test
    void httpTransportFallsBackToLongPollsThroughABufferingProxy() throws Exception {
        try (Closer closer = new Closer()) {
            Setup setup = setup(closer);
            Node entry = closer.add(NodeSpec.entry()
                            .token(setup.token())
                            .server("http://127.0.0.1:" + setup.nginxPort())
                            .set("splitstream.entry.transport", "http")
                            .forward(
                                    setup.forward(), "127.0.0.1", setup.target().port())
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, "http");
            // an idle streamed response shows the buffering: no PING within 3 s of its headers
            String detected = entry.awaitLog("buffers responses", Duration.ofSeconds(30));
            figure("http through a buffering nginx: " + detected.substring(detected.indexOf("the HTTP path")));
            Duration elapsed = Transfers.uploadAndDownload(setup.forward(), BYTES, 81, Duration.ofMinutes(4));
            figure(String.format(
                    "http through a buffering nginx (long polls): 8 MiB each way intact in %.1f s",
                    elapsed.toMillis() / 1000.0));
            assertThat(entry.linesContaining("buffers responses"))
                    .as("the entry says so once")
                    .hasSize(1);
            assertThat(setup.nginx().log("log"))
                    .as("the downstream requests went long-polling through nginx")
                    .contains("mode=poll");
        }
    }

    @Test
    void autoSettlesOnLongPollsThroughABufferingProxyAndRemembersIt() throws Exception {
        try (Closer closer = new Closer()) {
            Setup setup = setup(closer);
            Path stateDir = Files.createTempDirectory("splitstream-state");
            Path stateFile = stateDir.resolve("transports.json");
            closer.add(() -> {
                Files.deleteIfExists(stateFile);
                Files.deleteIfExists(stateDir);
            });
            Node entry = closer.add(NodeSpec.entry()
                            .token(setup.token())
                            .server("http://127.0.0.1:" + setup.nginxPort())
                            .set("splitstream.entry.transport", "auto")
                            .set("splitstream.entry.probe-timeout", "3s")
                            .set("splitstream.entry.state-file", stateFile.toString())
                            .forward(
                                    setup.forward(), "127.0.0.1", setup.target().port())
                            .start())
                    .awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(90));
            String settled = entry.awaitLog("transport=http-poll", Duration.ofSeconds(30));
            figure("auto through a buffering nginx: " + settled.substring(settled.indexOf("transport=")));
            Duration elapsed = Transfers.uploadAndDownload(setup.forward(), BYTES, 82, Duration.ofMinutes(4));
            figure(String.format(
                    "auto through a buffering nginx: 8 MiB each way intact in %.1f s", elapsed.toMillis() / 1000.0));
            await("the entry reports its transport in metrics")
                    .atMost(Duration.ofSeconds(20))
                    .pollInterval(Duration.ofMillis(500))
                    .until(() -> entry.metric("splitstream_entry_transport_info", "transport=\"http-poll\"") == 1.0);
            await("the entry remembers what worked")
                    .atMost(Duration.ofSeconds(20))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> read(stateFile).contains("http-poll"));
            figure("auto state file: " + read(stateFile).strip().replaceAll("\\s+", " "));
            assertThat(read(stateFile)).doesNotContain(setup.token());
        }
    }

    private record Setup(
            String token, int forward, TargetServer target, int nginxPort, TransportFixtures.Nginx nginx) {}

    private static Setup setup(Closer closer) throws IOException {
        String token = Tunnel.newToken();
        TargetServer target = closer.add(new TargetServer());
        Node exit = closer.add(NodeSpec.exit()
                        .token(token)
                        .allow("127.0.0.1:" + target.port())
                        .start())
                .awaitReady();
        int nginxPort = Ports.free();
        int hopPort = Ports.free();
        TransportFixtures.Nginx nginx = closer.add(TransportFixtures.nginx(
                "buffering-exit.conf",
                Map.of(
                        "exit", "server 127.0.0.1:" + exit.httpPort() + ";",
                        "listen", "listen 127.0.0.1:" + nginxPort + ";",
                        "log", "access_log buffered;",
                        "hop", "server 127.0.0.1:" + hopPort + ";",
                        "hop listen", "listen 127.0.0.1:" + hopPort + ";"),
                List.of(new InetSocketAddress("127.0.0.1", nginxPort), new InetSocketAddress("127.0.0.1", hopPort))));
        return new Setup(token, Ports.free(), target, nginxPort, nginx);
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
