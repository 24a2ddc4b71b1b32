package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.Fixtures;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Daemon;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The entry's terminal status screen as a user sees it: the entry runs in a real terminal (tmux), the test reads the
 * screen with capture-pane and types Ctrl-C with send-keys. Without a terminal the same entry prints plain log lines.
 */
@ExtendWith(NodeLogs.class)
class TerminalStatusE2E {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void statusScreenShowsSessionTrafficAndBackoffAndCtrlCRestoresTheConsole() throws Exception {
        Path tmux = Programs.require("tmux");
        String token = Tunnel.newToken();
        int forward = Ports.free();
        int publicPort = Ports.free();
        String routeToken = "route-" + Tunnel.newToken().substring(0, 20);
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            // an HTTP service for the agent to expose: python's static file server
            Path www = Fixtures.tempDir("status-www");
            Files.writeString(www.resolve("hello.txt"), "hello through a route\n");
            int webPort = Ports.free();
            Daemon web = closer.add(Daemon.start(
                    "web",
                    NodeLogs.file("web"),
                    Map.of(),
                    List.of(
                            Programs.require("python3").toString(),
                            "-m",
                            "http.server",
                            "--bind",
                            "127.0.0.1",
                            "--directory",
                            www.toString(),
                            Integer.toString(webPort))));
            Fixtures.awaitPort(web, new InetSocketAddress("127.0.0.1", webPort), WAIT);
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .set("splitstream.exit.public-ports", publicPort + "-" + publicPort)
                            .set("splitstream.exit.public-host", "127.0.0.1")
                            .start())
                    .awaitReady();
            Pane pane = closer.add(new Pane(tmux));
            pane.start(entryScript(token, routeToken, exit.wsUrl(), forward, target.port(), webPort));

            pane.await(
                    "connected",
                    s -> s.contains("Splitstream entry node")
                            && s.contains("Server     " + exit.wsUrl())
                            && s.contains("Transport  websocket  (probe)")
                            && s.matches("(?s).*Session\\s+connected\\s+id [0-9a-f]{32}\\s+rtt [0-9.]+ ms.*")
                            && s.contains("forward 127.0.0.1:" + forward + " -> 127.0.0.1:" + target.port())
                            && s.contains("Exposed    echo 127.0.0.1:" + target.port() + " -> tcp://127.0.0.1:"
                                    + publicPort));

            Transfers.echo(forward, 3 * 1024 * 1024, 7);
            String traffic = pane.await(
                    "traffic counted",
                    s -> s.contains("connections 1 (0 open)")
                            && s.contains("up 3.0 MiB")
                            && s.contains("down 3.0 MiB"));
            assertThat(traffic).doesNotContain(token);

            // a request through the exit's HTTP route to the exposed web service appears as one line on the screen
            String querySecret = "qs-" + Tunnel.newToken().substring(0, 12);
            Exec.Result curl = Exec.run(
                    Duration.ofSeconds(60),
                    Programs.require("curl").toString(),
                    "-sS",
                    "--noproxy",
                    "*",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    exit.httpUrl() + "/_token/" + routeToken + "/hello.txt?key=" + querySecret);
            assertThat(curl.assertSuccess().output().trim()).isEqualTo("200");
            String requests = pane.await(
                    "the request on the screen",
                    s -> s.contains("Requests   1 routed to exposed HTTP services")
                            && s.matches("(?s).*[0-9:]{8} \\[web\\] GET /hello.txt 200 [0-9.]+ (us|ms|s) 22 B.*"));
            assertThat(requests).doesNotContain(routeToken).doesNotContain(querySecret);

            exit.close();
            pane.await(
                    "waiting for the exit again",
                    s -> s.matches("(?s).*Session\\s+(resuming|backoff).*next attempt in [0-9.]+ s.*")
                            && s.contains("Problem")
                            && s.contains("WARN"));

            pane.keys("C-c");
            String after = pane.await(
                    "back on the console and the JVM gone",
                    s -> s.contains("summary: connections=2")
                            && s.matches("(?s).*requests=1 2xx=1 latency_min=[0-9.]+ms.*")
                            && s.contains("stopped in")
                            && s.contains("entry exited with status 130"));
            // the screen's own lines are gone with the alternate screen; its log panel was printed to the console
            assertThat(after).doesNotContain("Ctrl-C stops").contains("connection to the exit node lost");
        }
    }

    @Test
    void withoutATerminalTheEntryPrintsPlainLogLines() {
        try (Tunnel tunnel = Tunnel.start(exit -> exit.allow("127.0.0.1:*"), entry -> {})) {
            assertThat(tunnel.entry().linesContaining("status screen on")).isEmpty();
            assertThat(tunnel.entry().logText()).doesNotContain("\u001b[?1049h"); // no alternate screen
            assertThat(tunnel.entry().linesContaining("session established")).hasSize(1);
        }
    }

    private static Path entryScript(
            String token, String routeToken, String server, int forward, int targetPort, int webPort) throws Exception {
        Path dir = NodeLogs.dir();
        Path tokenFile = dir.resolve("entry-token");
        Files.writeString(tokenFile, token);
        Files.setPosixFilePermissions(tokenFile, PosixFilePermissions.fromString("rw-------"));
        Path routeTokenFile = dir.resolve("entry-route-token");
        Files.writeString(routeTokenFile, routeToken);
        Files.setPosixFilePermissions(routeTokenFile, PosixFilePermissions.fromString("rw-------"));
        Path state = Files.createTempDirectory("splitstream-state-").resolve("transports.json");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path jar = NodeSpec.entry().jar();
        String script = String.join(
                "\n",
                "#!/bin/sh",
                "unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY",
                "SPLITSTREAM_TOKEN=$(cat '" + tokenFile + "')",
                "export SPLITSTREAM_TOKEN",
                "SPLITSTREAM_ENTRY_ROUTE_TOKEN=$(cat '" + routeTokenFile + "')",
                "export SPLITSTREAM_ENTRY_ROUTE_TOKEN",
                // The shell waits for the JVM and prints its exit status: tmux 3.3a at times does not reap the pane's
                // process (the JVM is gone, a zombie, but the pane never says "Pane is dead (status ...)"), so the
                // pane's own status is not a reliable witness. The trap keeps this shell alive on Ctrl-C; the JVM
                // (a child: caught signals are reset on exec) gets SIGINT with its default handling.
                "trap : INT",
                "'" + java + "' -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
                        + " -Dquarkus.management.port=" + Ports.free()
                        + " -Dsplitstream.entry.server=" + server
                        + " -Dsplitstream.entry.forwards=127.0.0.1:" + forward + "=127.0.0.1:" + targetPort
                        + " -Dsplitstream.entry.agent=term-agent -Dsplitstream.entry.expose=echo=127.0.0.1:"
                        + targetPort + ",web=http://127.0.0.1:" + webPort
                        + " -Dsplitstream.entry.reconnect-min=200ms -Dsplitstream.entry.reconnect-max=3s"
                        + " -Dsplitstream.entry.state-file=" + state
                        + " -jar '" + jar + "'",
                "echo \"entry exited with status $?\"",
                "");
        Path file = dir.resolve("entry-in-tmux.sh");
        Files.writeString(file, script);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwx------"));
        return file;
    }

    /** A tmux server of this test's own (its own socket), one 120x40 pane; closing kills that server only. */
    private static final class Pane implements AutoCloseable {
        private final Path tmux;
        private final String socket = "splitstream-e2e-" + UUID.randomUUID();
        private final Path screens = NodeLogs.file("entry-screens");
        private String last = "";

        Pane(Path tmux) {
            this.tmux = tmux;
            NodeLogs.register("entry screen (tmux capture-pane)", screens);
        }

        void start(Path script) {
            tmux("new-session", "-d", "-s", "status", "-x", "120", "-y", "40", script.toString())
                    .assertSuccess();
            // keep the pane (and what the entry printed last) after the entry exits
            tmux("set-option", "-t", "status", "remain-on-exit", "on").assertSuccess();
        }

        void keys(String keys) {
            tmux("send-keys", "-t", "status", keys).assertSuccess();
        }

        String capture() {
            Exec.Result r = tmux("capture-pane", "-p", "-J", "-S", "-60", "-t", "status");
            return r.exitCode() == 0 ? r.output() : "";
        }

        String await(String what, java.util.function.Predicate<String> condition) {
            return awaitScreen(what, condition);
        }

        private String awaitScreen(String what, java.util.function.Predicate<String> condition) {
            try {
                return org.awaitility.Awaitility.await("entry screen: " + what)
                        .atMost(WAIT)
                        .pollInterval(Duration.ofMillis(250))
                        .until(
                                () -> {
                                    last = capture();
                                    return last;
                                },
                                condition);
            } finally {
                try {
                    Files.writeString(
                            screens,
                            "---- " + what + "\n" + last + "\n",
                            java.nio.file.StandardOpenOption.CREATE,
                            java.nio.file.StandardOpenOption.APPEND);
                } catch (java.io.IOException e) {
                    // the screen is in the assertion message anyway
                }
            }
        }

        private Exec.Result tmux(String... args) {
            String[] command = new String[args.length + 3];
            command[0] = tmux.toString();
            command[1] = "-L";
            command[2] = socket;
            System.arraycopy(args, 0, command, 3, args.length);
            return Exec.run(Duration.ofSeconds(10), Map.of("TERM", "xterm-256color", "LANG", "C.UTF-8"), null, command);
        }

        @Override
        public void close() {
            tmux("kill-server");
        }
    }
}
