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
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The split path through the shipped deploy/nginx/split-exit.conf: the upstream leg through one server block, the
 * downstream leg through the other; each block's access log shows only its own direction's bytes.
 */
@ExtendWith(NodeLogs.class)
class SplitNginxE2E {
    private static final long BYTES = 32L * 1024 * 1024;

    /** {@code ... "GET /x HTTP/1.1" 200 <bytes_sent> <request_length> up=<n> down=<n> session=<id>}. */
    private static final Pattern LINE =
            Pattern.compile("\"([^\"]*)\" (\\d{3}) (\\d+) (\\d+) up=([-\\d, :]*) down=([-\\d, :]*) session=(\\S*)");

    private record Totals(long toClient, long toExit, List<String> requests, List<String> sessions) {}

    @ParameterizedTest
    @ValueSource(strings = {"websocket-split", "http-split"})
    void eachLegGoesThroughItsOwnServerBlock(String kind) throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        int upPort = Ports.free();
        int downPort = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.Nginx nginx = closer.add(TransportFixtures.nginx(
                    "split-exit.conf",
                    Map.of(
                            "exit", "server 127.0.0.1:" + exit.httpPort() + ";",
                            "up listen", "listen 127.0.0.1:" + upPort + ";",
                            "down listen", "listen 127.0.0.1:" + downPort + ";",
                            "up log", "access_log up splitstream_legs;",
                            "down log", "access_log down splitstream_legs;"),
                    List.of(new InetSocketAddress("127.0.0.1", upPort), new InetSocketAddress("127.0.0.1", downPort))));
            Node entry = closer.add(TransportFixtures.transport(
                                    NodeSpec.entry().token(token), kind, "127.0.0.1:" + upPort, "127.0.0.1:" + downPort)
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            String sessionId = TransportFixtures.sessionId(TransportFixtures.awaitEstablished(entry, kind));

            Duration elapsed = Transfers.uploadAndDownload(forward, BYTES, 71, Duration.ofMinutes(4));
            figure(String.format(
                    "%s through two nginx server blocks: 32 MiB each way intact in %.1f s",
                    kind, elapsed.toMillis() / 1000.0));

            entry.stop(); // nginx logs a WebSocket or a streamed GET when it ends
            await("both server blocks logged their leg")
                    .atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> totals(nginx.log("up log")).toExit() >= BYTES
                            && totals(nginx.log("down log")).toClient() >= BYTES);
            Totals up = totals(nginx.log("up log"));
            Totals down = totals(nginx.log("down log"));
            figure(String.format(
                    "%s nginx blocks: up block %d B to exit / %d B to entry (%d requests); down block %d B to exit /"
                            + " %d B to entry (%d requests)",
                    kind,
                    up.toExit(),
                    up.toClient(),
                    up.requests().size(),
                    down.toExit(),
                    down.toClient(),
                    down.requests().size()));

            assertThat(up.toClient())
                    .as("the upstream block carries no downstream data (only handshakes, empty responses)")
                    .isLessThan(BYTES / 16);
            assertThat(down.toExit())
                    .as("the downstream block carries no upstream data (only handshakes)")
                    .isLessThan(BYTES / 16);
            if (kind.startsWith("http")) {
                assertThat(up.requests())
                        .as("the upstream block sees handshakes and POST .../up only")
                        .allMatch(request -> request.contains("/splitstream/v1/http/handshake")
                                || request.contains("/splitstream/v1/http/up"))
                        .anyMatch(request -> request.startsWith("POST /splitstream/v1/http/up"));
                assertThat(down.requests())
                        .as("the downstream block sees handshakes and GET .../down only")
                        .allMatch(request -> request.contains("/splitstream/v1/http/handshake")
                                || request.contains("/splitstream/v1/http/down"))
                        .anyMatch(request -> request.startsWith("GET /splitstream/v1/http/down"))
                        .as("the leg id is a bearer credential: never in the logged request line")
                        .noneMatch(request -> request.contains("leg="));
            } else {
                assertThat(up.requests())
                        .isNotEmpty()
                        .allMatch(request -> request.startsWith("GET /splitstream/v1/ws"));
                assertThat(down.requests())
                        .isNotEmpty()
                        .allMatch(request -> request.startsWith("GET /splitstream/v1/ws"));
            }
            // ingress affinity: the downstream leg (which joins a known session) names the session; never the key
            assertThat(down.sessions())
                    .as("X-Splitstream-Session on the downstream leg")
                    .contains(sessionId);
            assertThat(nginx.log("up log") + nginx.log("down log"))
                    .as("no secret in the proxy logs")
                    .doesNotContain(token);
        }
    }

    private static Totals totals(String log) {
        long toClient = 0;
        long toExit = 0;
        List<String> requests = new java.util.ArrayList<>();
        List<String> sessions = new java.util.ArrayList<>();
        for (String line : log.lines().toList()) {
            Matcher m = LINE.matcher(line);
            if (!m.find()) {
                continue;
            }
            requests.add(m.group(1));
            toClient += Long.parseLong(m.group(3));
            toExit += sum(m.group(5));
            sessions.add(m.group(7));
        }
        return new Totals(toClient, toExit, requests, sessions);
    }

    /** {@code $upstream_bytes_sent} lists one figure per upstream tried ({@code 12, 34} or {@code -}). */
    private static long sum(String figures) {
        long total = 0;
        for (String figure : figures.split("[,:]")) {
            String trimmed = figure.trim();
            if (!trimmed.isEmpty() && !trimmed.equals("-")) {
                total += Long.parseLong(trimmed);
            }
        }
        return total;
    }
}
