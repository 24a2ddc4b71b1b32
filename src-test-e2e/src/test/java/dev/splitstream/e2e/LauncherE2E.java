package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.fixture.HttpFixture;
import dev.splitstream.e2e.harness.Daemon;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The root launcher, as the README tells users to run it: flags mapped onto configuration, and the demo. */
@ExtendWith(NodeLogs.class)
class LauncherE2E {
    private static final Map<String, String> ENV =
            Map.of("JAVA_OPTS", "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1");

    private static String launcher() {
        return Node.repoRoot().resolve("splitstream").toString();
    }

    @Test
    void helpListsTheFlags() {
        Exec.Result help =
                Exec.run(Duration.ofSeconds(30), launcher(), "--help").assertSuccess();
        assertThat(help.output())
                .contains("--token", "--allow", "--tokens-file", "--port", "--server", "--forward", "--socks")
                .contains("--http-connect", "--proxy", "--ca-file", "--management-port", "--management-host")
                .contains("demo", "test");
    }

    @Test
    void exitAndEntryFlagsMapOntoConfiguration() throws Exception {
        Path tokenFile = NodeLogs.dir().resolve("token.txt");
        String token = Tunnel.newToken();
        Files.writeString(tokenFile, token + "\n");
        int exitPort = Ports.free();
        int exitManagement = Ports.free();
        int entryManagement = Ports.free();
        int forward = Ports.free();
        int socks = Ports.free();
        String curl = Programs.require("curl").toString();
        try (TargetServer target = new TargetServer();
                HttpFixture http = new HttpFixture();
                Daemon exit = Daemon.start(
                        "exit (launcher)",
                        NodeLogs.file("exit-launcher"),
                        ENV,
                        List.of(
                                launcher(),
                                "exit",
                                "--token-file",
                                tokenFile.toString(),
                                "--allow",
                                "127.0.0.1:" + target.port(),
                                "--allow",
                                "127.0.0.1:" + http.port(),
                                "--port",
                                Integer.toString(exitPort),
                                "--management-port",
                                Integer.toString(exitManagement),
                                "--quarkus.http.host",
                                "127.0.0.1",
                                "--max-streams=16"));
                Daemon entry = Daemon.start(
                        "entry (launcher)",
                        NodeLogs.file("entry-launcher"),
                        ENV,
                        List.of(
                                launcher(),
                                "entry",
                                "--token-file",
                                tokenFile.toString(),
                                "--server",
                                "ws://127.0.0.1:" + exitPort,
                                "--forward",
                                forward + "=127.0.0.1:" + target.port(),
                                "--socks",
                                Integer.toString(socks),
                                "--socks-username",
                                "e2e",
                                "--socks-password",
                                "launcher-pass",
                                "--management-port=" + entryManagement,
                                "--management-host",
                                "127.0.0.1",
                                "--reconnect-max",
                                "2s"))) {
            awaitLine(exit, "exit node listening on " + exitPort, Duration.ofSeconds(90));
            awaitLine(entry, "forwarding 127.0.0.1:" + forward, Duration.ofSeconds(90));
            awaitLine(entry, "session established", Duration.ofSeconds(60));
            Transfers.echo(forward, 1024 * 1024, 21);
            Exec.Result viaSocks = Exec.run(
                            Duration.ofSeconds(60),
                            curl,
                            "-sS",
                            "--max-time",
                            "30",
                            "-x",
                            "socks5h://e2e:launcher-pass@127.0.0.1:" + socks,
                            http.url())
                    .assertSuccess();
            assertThat(viaSocks.output()).isEqualTo(HttpFixture.BODY);
            // health and metrics on the management ports the flags named; the tunnel port serves the tunnel only
            assertThat(status(curl, "http://127.0.0.1:" + exitManagement + "/q/health/ready"))
                    .isEqualTo("200");
            assertThat(status(curl, "http://127.0.0.1:" + entryManagement + "/q/health/ready"))
                    .isEqualTo("200");
            assertThat(status(curl, "http://127.0.0.1:" + exitPort + "/q/metrics"))
                    .isEqualTo("404");
            assertThat(read(exit.log())).doesNotContain(token);
            assertThat(read(entry.log())).doesNotContain(token).doesNotContain("launcher-pass");
            // secrets travel in the environment: the command line (what 'ps' shows) has none
            String cmdline = Files.readString(Path.of("/proc", Long.toString(entry.pid()), "cmdline"));
            assertThat(cmdline).contains("splitstream.entry.forwards").doesNotContain(token, "launcher-pass");
        }
    }

    @Test
    void demoStartsBothNodesAndStopsThemOnSignal() throws Exception {
        String curl = Programs.require("curl").toString();
        Daemon demo = Daemon.start("demo", NodeLogs.file("demo"), ENV, List.of(launcher(), "demo"));
        try {
            awaitLine(demo, "Ctrl-C stops both nodes", Duration.ofSeconds(120));
            String out = read(demo.log());
            int socks = port(out, "SOCKS5\\s+127\\.0\\.0\\.1:(\\d+)");
            int connect = port(out, "HTTP CONNECT\\s+127\\.0\\.0\\.1:(\\d+)");
            int exitManagement = port(out, "exit health\\s+http://127\\.0\\.0\\.1:(\\d+)/q/health/ready");
            port(out, "entry health\\s+http://127\\.0\\.0\\.1:(\\d+)/q/health/ready");
            String health = "http://127.0.0.1:" + exitManagement + "/q/health/live";
            Exec.Result viaSocks = Exec.run(
                            Duration.ofSeconds(60),
                            curl,
                            "-sS",
                            "--max-time",
                            "30",
                            "--socks5-hostname",
                            "127.0.0.1:" + socks,
                            health)
                    .assertSuccess();
            assertThat(viaSocks.output()).contains("\"UP\"");
            Exec.Result viaConnect = Exec.run(
                            Duration.ofSeconds(60),
                            curl,
                            "-sS",
                            "--max-time",
                            "30",
                            "-p",
                            "-x",
                            "http://127.0.0.1:" + connect,
                            health)
                    .assertSuccess();
            assertThat(viaConnect.output()).contains("\"UP\"");

            Matcher token = Pattern.compile("token\\s+([0-9a-f]{64})").matcher(out);
            assertThat(token.find()).as("the demo prints its generated token").isTrue();
            assertThat(out.split(token.group(1), -1))
                    .as("the token is printed once")
                    .hasSize(2);
        } finally {
            demo.stop(Duration.ofSeconds(30)); // SIGTERM, as Ctrl-C would
        }
        String out = read(demo.log());
        assertThat(out).contains("stopping the demo nodes", "entry summary:");
        Matcher dir = Pattern.compile("logs kept in (\\S+)").matcher(out);
        assertThat(dir.find()).isTrue();
        Path demoDir = Path.of(dir.group(1));
        for (String node : List.of("exit.log", "entry.log")) {
            // keep the demo's logs with the others, and leave nothing in the temp folder
            Path log = Files.copy(demoDir.resolve(node), NodeLogs.file("demo-" + node.replace(".log", "")));
            NodeLogs.register("demo " + node, log);
            assertThat(read(log)).contains("stopped in");
        }
        try (var files = Files.list(demoDir)) {
            for (Path file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(demoDir);
    }

    /** The HTTP status of a GET, as curl prints it. */
    private static String status(String curl, String url) {
        return Exec.run(
                        Duration.ofSeconds(30),
                        curl,
                        "-sS",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "--max-time",
                        "20",
                        url)
                .assertSuccess()
                .output();
    }

    private static int port(String text, String regex) {
        Matcher matcher = Pattern.compile(regex).matcher(text);
        assertThat(matcher.find()).as("output has %s", regex).isTrue();
        return Integer.parseInt(matcher.group(1));
    }

    private static void awaitLine(Daemon daemon, String text, Duration timeout) {
        await(daemon.name() + " logs '" + text + "'")
                .atMost(timeout)
                .pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    daemon.assertAlive();
                    return read(daemon.log()).contains(text);
                });
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }
}
