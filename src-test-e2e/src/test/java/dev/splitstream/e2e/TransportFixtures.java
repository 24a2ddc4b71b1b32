package dev.splitstream.e2e;

import dev.splitstream.e2e.fixture.Fixtures;
import dev.splitstream.e2e.harness.Daemon;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Issue-4 fixtures: nginx running one of the shipped {@code deploy/nginx/*.conf} files (whose lines marked
 * {@code # test: <name>} the test replaces), and a squid that forwards plain HTTP as well as CONNECT to loopback.
 */
final class TransportFixtures {
    private TransportFixtures() {}

    /** A running nginx; closing stops it and removes its folder. */
    static final class Nginx implements AutoCloseable {
        private final Daemon daemon;
        private final Path dir;
        private final Map<String, Path> logs;

        private Nginx(Daemon daemon, Path dir, Map<String, Path> logs) {
            this.daemon = daemon;
            this.dir = dir;
            this.logs = logs;
        }

        /** The access log the test put on the line marked {@code # test: <marker>}. */
        String log(String marker) {
            Path file = logs.get(marker);
            try {
                return file != null && Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
            } catch (IOException e) {
                return "";
            }
        }

        @Override
        public void close() {
            daemon.close();
            deleteTree(dir);
        }
    }

    /**
     * nginx with {@code deploy/nginx/<conf>}: every line marked {@code # test: <marker>} is replaced by {@code
     * lines.get(marker)} (each marker must exist); markers whose replacement is {@code access_log <placeholder> [format];} log to
     * a file of the test's log folder. Waits until every port of {@code ports} accepts connections.
     */
    static Nginx nginx(String conf, Map<String, String> lines, List<InetSocketAddress> ports) {
        Path nginx = Programs.require("nginx");
        Path shipped = Node.repoRoot().resolve("deploy/nginx").resolve(conf);
        Path dir = tempDir("nginx4");
        Path errorLog = NodeLogs.file("nginx-error");
        Map<String, Path> logs = new LinkedHashMap<>();
        try {
            List<String> out = new ArrayList<>();
            Map<String, String> pending = new LinkedHashMap<>(lines);
            for (String line : Files.readAllLines(shipped, StandardCharsets.UTF_8)) {
                int mark = line.indexOf("# test: ");
                if (mark < 0) {
                    out.add(line);
                    continue;
                }
                String marker = line.substring(mark + "# test: ".length()).trim();
                String replacement = pending.remove(marker);
                if (replacement == null) {
                    out.add(line);
                    continue;
                }
                if (replacement.startsWith("access_log ")) {
                    Path log = NodeLogs.file("nginx-" + marker.replace(' ', '-'));
                    NodeLogs.register("nginx " + marker, log);
                    logs.put(marker, log);
                    // "access_log <placeholder> [format];": the placeholder becomes the test's file
                    String[] words = replacement.split("\\s+", 3);
                    replacement = "access_log " + log.toAbsolutePath() + (words.length > 2 ? " " + words[2] : ";");
                }
                out.add("    " + replacement);
            }
            if (!pending.isEmpty()) {
                throw new AssertionError(shipped + " has no lines marked '# test: " + pending.keySet() + "'");
            }
            Files.writeString(dir.resolve("site.conf"), String.join("\n", out) + "\n");
            Files.writeString(
                    dir.resolve("nginx.conf"),
                    String.join(
                            "\n",
                            "worker_processes 1;",
                            "pid " + dir.resolve("nginx.pid") + ";",
                            "error_log " + errorLog.toAbsolutePath() + " info;",
                            "events { worker_connections 512; }",
                            "http {",
                            "    access_log off;",
                            "    client_body_temp_path " + dir.resolve("body") + ";",
                            "    proxy_temp_path " + dir.resolve("proxy") + ";",
                            "    include " + dir.resolve("site.conf") + ";",
                            "}",
                            ""));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        NodeLogs.register("nginx-error", errorLog);
        Daemon daemon = Daemon.start(
                "nginx",
                NodeLogs.file("nginx"),
                Map.of(),
                List.of(
                        nginx.toString(),
                        "-p",
                        dir.toString(),
                        "-e",
                        errorLog.toAbsolutePath().toString(),
                        "-c",
                        dir.resolve("nginx.conf").toString(),
                        "-g",
                        "daemon off;"));
        try {
            for (InetSocketAddress port : ports) {
                awaitPort(daemon, port);
            }
        } catch (RuntimeException | Error e) {
            daemon.close();
            deleteTree(dir);
            throw e;
        }
        return new Nginx(daemon, dir, logs);
    }

    /** A squid as the corporate outbound proxy: plain HTTP and CONNECT, to loopback only, no cache. */
    static final class Squid implements AutoCloseable {
        private final Daemon daemon;
        private final Path dir;
        private final int port;

        private Squid(Daemon daemon, Path dir, int port) {
            this.daemon = daemon;
            this.dir = dir;
            this.port = port;
        }

        static Squid start() {
            Path squid = Programs.require("squid");
            Path dir = tempDir("squid4");
            int port = Ports.free();
            Path config = dir.resolve("squid.conf");
            write(
                    config,
                    List.of(
                                    "http_port 127.0.0.1:" + port,
                                    "acl loopback_dst dst 127.0.0.0/8 ::1",
                                    "http_access allow loopback_dst",
                                    "http_access deny all",
                                    "cache deny all",
                                    "cache_mem 8 MB",
                                    "pid_filename " + dir.resolve("squid.pid"),
                                    "cache_log " + dir.resolve("cache.log"),
                                    "access_log stdio:" + dir.resolve("access.log"),
                                    "coredump_dir " + dir,
                                    "shutdown_lifetime 1 seconds",
                                    "dns_v4_first on",
                                    "")
                            .stream()
                            .collect(Collectors.joining("\n")));
            NodeLogs.register("squid-cache", dir.resolve("cache.log"));
            NodeLogs.register("squid-access", dir.resolve("access.log"));
            Daemon daemon = Daemon.start(
                    "squid",
                    NodeLogs.file("squid"),
                    Map.of(),
                    List.of(squid.toString(), "-N", "-d", "1", "-f", config.toString()));
            try {
                awaitPort(daemon, new InetSocketAddress("127.0.0.1", port));
            } catch (RuntimeException | Error e) {
                daemon.close();
                deleteTree(dir);
                throw e;
            }
            return new Squid(daemon, dir, port);
        }

        String url() {
            return "http://127.0.0.1:" + port;
        }

        String accessLog() {
            try {
                Path log = dir.resolve("access.log");
                return Files.exists(log) ? Files.readString(log) : "";
            } catch (IOException e) {
                return "";
            }
        }

        @Override
        public void close() {
            daemon.close();
            try {
                Path log = dir.resolve("access.log");
                if (Files.exists(log)) {
                    Files.copy(log, NodeLogs.file("squid-access"));
                }
            } catch (IOException e) {
                // best effort
            }
            deleteTree(dir);
        }
    }

    /** The entry's transport settings for {@code kind} (websocket, websocket-split, http, http-split, auto). */
    static NodeSpec transport(NodeSpec entry, String kind, String upHostPort, String downHostPort) {
        switch (kind) {
            case "websocket" -> entry.server("ws://" + upHostPort); // ws:// means WebSocket (auto tries it first)
            case "http" -> entry.server("http://" + upHostPort).set("splitstream.entry.transport", "http");
            case "auto" -> entry.server("http://" + upHostPort).set("splitstream.entry.transport", "auto");
            case "websocket-split" ->
                entry.set("splitstream.entry.upstream", "ws://" + upHostPort)
                        .set("splitstream.entry.downstream", "ws://" + downHostPort);
            case "http-split" ->
                entry.set("splitstream.entry.upstream", "http://" + upHostPort)
                        .set("splitstream.entry.downstream", "http://" + downHostPort)
                        .set("splitstream.entry.transport", "http");
            default -> throw new IllegalArgumentException(kind);
        }
        return entry;
    }

    /** A pattern for the {@code transport=} value the entry logs for {@code kind}. */
    static Pattern loggedTransport(String kind) {
        return Pattern.compile(
                switch (kind) {
                    case "websocket" -> "transport=websocket(\\s|,|$)";
                    case "websocket-split" -> "transport=websocket-split";
                    default -> "transport=http-(stream|poll)";
                });
    }

    /** Waits for the entry's {@code session established} line and asserts its transport; returns the line. */
    static String awaitEstablished(Node entry, String kind) {
        String line = entry.awaitLog("session established", Duration.ofSeconds(60));
        org.assertj.core.api.Assertions.assertThat(line)
                .as("the entry's session line names the transport")
                .containsPattern(loggedTransport(kind));
        return line;
    }

    /** The session id (hex) of an entry's {@code session established <id> ...} line. */
    static String sessionId(String establishedLine) {
        java.util.regex.Matcher m =
                Pattern.compile("session established ([0-9a-f]+)").matcher(establishedLine);
        if (!m.find()) {
            throw new AssertionError("no session id in: " + establishedLine);
        }
        return m.group(1);
    }

    static void awaitPort(Daemon daemon, InetSocketAddress address) {
        Fixtures.awaitPort(daemon, address, Duration.ofSeconds(60));
    }

    private static Path tempDir(String prefix) {
        return Fixtures.tempDir(prefix);
    }

    private static void write(Path file, String text) {
        Fixtures.write(file, text);
    }

    private static void deleteTree(Path dir) {
        Fixtures.deleteTree(dir);
    }
}
