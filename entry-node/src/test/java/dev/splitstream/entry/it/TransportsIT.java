package dev.splitstream.entry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The packaged entry node against the real exit node ({@code ../exit-node/target/quarkus-app/quarkus-run.jar}, built
 * from this branch) over every transport: split WebSocket legs that drop in turn, plain HTTP streaming, HTTP through a
 * buffering proxy (poll mode), transport=auto with and without WebSocket on the path, compression on the wire.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TransportsIT {
    /** The reason of a "connection lost" WARN, without the counters after it. */
    private static final Pattern LOST_REASON =
            Pattern.compile("to the exit node lost \\((.+?)\\); session [0-9a-f]+ waits");

    static final String TOKEN = "transports-it-token";
    static final Duration WAIT = Duration.ofSeconds(20);
    static final int MIB = 1024 * 1024;

    EntryProcess exit;
    int exitPort;
    TestTargets targets;

    @BeforeAll
    void start() throws Exception {
        Path jar = Path.of("..", "exit-node", "target", "quarkus-app", "quarkus-run.jar");
        Assumptions.assumeTrue(
                Files.exists(jar), "the exit node is not built (./mvnw -pl exit-node -am package -DskipTests)");
        targets = new TestTargets();
        exit = new EntryProcess(
                jar,
                Map.of(
                        "SPLITSTREAM_TOKEN", TOKEN,
                        "SPLITSTREAM_EXIT_ALLOW", "127.0.0.1:*",
                        "SPLITSTREAM_EXIT_HTTP_POLL_WAIT", "2s"));
        exitPort = Integer.parseInt(exit.awaitGroup("Listening on: http://[^:]+:(\\d+)", WAIT));
    }

    @AfterAll
    void stop() throws Exception {
        if (exit != null) {
            exit.stop();
            Files.writeString(Path.of("target", "transports-it-exit.log"), exit.output());
        }
        if (targets != null) {
            targets.close();
        }
    }

    private EntryProcess entry(String name, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of(
                "SPLITSTREAM_TOKEN",
                TOKEN,
                "SPLITSTREAM_ENTRY_FORWARDS",
                "0=127.0.0.1:" + targets.echoPort(),
                "SPLITSTREAM_ENTRY_PING_INTERVAL",
                "1s",
                "SPLITSTREAM_ENTRY_PING_TIMEOUT",
                "5s",
                "SPLITSTREAM_ENTRY_RECONNECT_MAX",
                "1s",
                "SPLITSTREAM_ENTRY_STATE_FILE",
                Path.of("target", "it-" + name + "-transports.json")
                        .toAbsolutePath()
                        .toString()));
        Files.deleteIfExists(Path.of(env.get("SPLITSTREAM_ENTRY_STATE_FILE")));
        env.putAll(extra);
        return new EntryProcess(env);
    }

    private static void keepLog(String name, EntryProcess entry) throws Exception {
        entry.stop();
        Files.writeString(Path.of("target", "transports-it-" + name + ".log"), entry.output());
    }

    private static int forwardPort(EntryProcess entry) {
        return Integer.parseInt(entry.awaitGroup("forwarding 127\\.0\\.0\\.1:(\\d+) → ", WAIT));
    }

    /** Sends {@code data} through the echo forward and checks every byte comes back; calls progress with bytes read. */
    private static void echo(int port, byte[] data, LongConsumer progress) throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(30_000);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    for (int off = 0; off < data.length; off += 64 * 1024) {
                        out.write(data, off, Math.min(64 * 1024, data.length - off));
                    }
                    out.flush();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            byte[] back = new byte[data.length];
            DataInputStream in = new DataInputStream(s.getInputStream());
            int read = 0;
            long lastReported = 0;
            while (read < back.length) {
                int n = in.read(back, read, Math.min(64 * 1024, back.length - read));
                if (n < 0) {
                    throw new AssertionError("echo ended after " + read + " of " + back.length + " bytes");
                }
                read += n;
                if (read - lastReported >= 256 * 1024) {
                    lastReported = read;
                    progress.accept(read);
                }
            }
            writer.get(30, TimeUnit.SECONDS);
            assertThat(MessageDigest.getInstance("SHA-256").digest(back))
                    .isEqualTo(MessageDigest.getInstance("SHA-256").digest(data));
        }
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    @Test
    void splitWebSocketMoves8MiBAndSurvivesADropOfEachLeg() throws Exception {
        try (TcpRelay upRelay = new TcpRelay(exitPort);
                TcpRelay downRelay = new TcpRelay(exitPort)) {
            EntryProcess entry = entry(
                    "split",
                    Map.of(
                            "SPLITSTREAM_ENTRY_TRANSPORT", "websocket",
                            "SPLITSTREAM_ENTRY_UPSTREAM", "ws://127.0.0.1:" + upRelay.port(),
                            "SPLITSTREAM_ENTRY_DOWNSTREAM", "ws://127.0.0.1:" + downRelay.port()));
            try {
                int port = forwardPort(entry);
                String id = entry.awaitGroup("session established ([0-9a-f]{32}) transport=websocket-split", WAIT);
                boolean[] dropped = new boolean[2];
                long started = System.nanoTime();
                echo(port, random(8 * MIB), read -> {
                    if (!dropped[0] && read >= 2 * MIB) {
                        dropped[0] = true;
                        upRelay.dropAll();
                    } else if (!dropped[1] && read >= 5 * MIB) {
                        dropped[1] = true;
                        downRelay.dropAll();
                    }
                });
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                System.out.printf(
                        "split websocket: 8 MiB echoed in %d ms; relay up %d bytes, down %d bytes%n",
                        millis, upRelay.up.get(), downRelay.down.get());
                assertThat(dropped).containsOnly(true);
                entry.awaitGroup("session resumed (" + id + ") \\(upstream leg\\)", WAIT);
                entry.awaitGroup("session resumed (" + id + ") \\(downstream leg\\)", WAIT);
                // Server-to-client frames only on the downstream leg.
                assertThat(downRelay.down.get()).isGreaterThan(8L * MIB);
                assertThat(upRelay.down.get()).isLessThan(MIB);
                assertThat(upRelay.accepted.get()).isGreaterThanOrEqualTo(2);
                assertThat(downRelay.accepted.get()).isGreaterThanOrEqualTo(2);
                // Every leg's upgrade request once the id is known names the session (ingress affinity).
                String header = "X-Splitstream-Session: " + id;
                assertThat(upRelay.firstRequests.get(0)).doesNotContainIgnoringCase("X-Splitstream-Session");
                assertThat(upRelay.firstRequests.subList(1, upRelay.firstRequests.size()))
                        .allSatisfy(r -> assertThat(r).containsIgnoringCase(header));
                assertThat(downRelay.firstRequests)
                        .allSatisfy(r -> assertThat(r).containsIgnoringCase(header));
            } finally {
                keepLog("split", entry);
            }
        }
    }

    @Test
    void httpStreamModeMoves8MiB() throws Exception {
        EntryProcess entry = entry(
                "http",
                Map.of(
                        "SPLITSTREAM_ENTRY_TRANSPORT",
                        "http",
                        "SPLITSTREAM_ENTRY_SERVER",
                        "http://127.0.0.1:" + exitPort));
        try {
            int port = forwardPort(entry);
            entry.awaitGroup("session established ([0-9a-f]{32}) transport=http-stream reason=configured", WAIT);
            long started = System.nanoTime();
            echo(port, random(8 * MIB), read -> {});
            System.out.printf(
                    "http stream: 8 MiB echoed in %d ms%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
            assertThat(entry.output()).doesNotContain("buffers responses");
        } finally {
            keepLog("http", entry);
        }
    }

    @Test
    void httpThroughABufferingProxyFallsBackToPoll() throws Exception {
        try (HttpRelay relay = new HttpRelay(exitPort, HttpRelay.Mode.BUFFER)) {
            EntryProcess entry = entry(
                    "buffering",
                    Map.of(
                            "SPLITSTREAM_ENTRY_TRANSPORT",
                            "http",
                            "SPLITSTREAM_ENTRY_SERVER",
                            "http://127.0.0.1:" + relay.port()));
            try {
                int port = forwardPort(entry);
                entry.awaitGroup("session established ([0-9a-f]{32}) transport=http-stream", WAIT);
                entry.awaitGroup("(buffers responses)", WAIT);
                entry.awaitGroup("session [0-9a-f]{32} transport=(http-poll) reason=buffering detected", WAIT);
                long started = System.nanoTime();
                echo(port, random(2 * MIB), read -> {});
                System.out.printf(
                        "http poll through a buffering proxy: 2 MiB echoed in %d ms, %d requests%n",
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started), relay.requests.get());
                assertThat(entry.count("buffers responses")).isEqualTo(1);
            } finally {
                keepLog("buffering", entry);
            }
        }
    }

    @Test
    void autoPicksWebSocketWhenAvailableAndRemembersIt() throws Exception {
        EntryProcess entry = entry("auto-ws", Map.of("SPLITSTREAM_ENTRY_SERVER", "ws://127.0.0.1:" + exitPort));
        Path state = Path.of("target", "it-auto-ws-transports.json");
        try {
            int port = forwardPort(entry);
            entry.awaitGroup("session established ([0-9a-f]{32}) transport=websocket reason=probe", WAIT);
            echo(port, random(256 * 1024), read -> {});
            await().atMost(WAIT).until(() -> Files.exists(state));
            assertThat(Files.readString(state))
                    .contains("\"ws://127.0.0.1:" + exitPort + "\"")
                    .contains("\"transport\" : \"websocket\"");
        } finally {
            keepLog("auto-ws", entry);
        }
    }

    @Test
    void autoFallsBackToHttpWhenTheUpgradeIsRefusedAndRemembersIt() throws Exception {
        try (HttpRelay relay = new HttpRelay(exitPort, HttpRelay.Mode.REFUSE_UPGRADE)) {
            String url = "http://127.0.0.1:" + relay.port();
            EntryProcess entry = entry("auto-http", Map.of("SPLITSTREAM_ENTRY_SERVER", url));
            Path state = Path.of("target", "it-auto-http-transports.json");
            try {
                int port = forwardPort(entry);
                String id = entry.awaitGroup(
                        "session established ([0-9a-f]{32}) transport=http-stream reason=websocket failed", WAIT);
                assertThat(relay.refusedUpgrades.get()).isGreaterThanOrEqualTo(1);
                echo(port, random(MIB), read -> {});
                assertThat(relay.sessionHeaders).containsOnlyKeys(id);
                assertThat(relay.sessionHeaders.get(id).get()).isGreaterThan(1);
                await().atMost(WAIT)
                        .until(() ->
                                Files.exists(state) && Files.readString(state).contains("http-stream"));
                assertThat(Files.readString(state)).contains("\"" + url + "\"");
            } finally {
                keepLog("auto-http", entry);
            }
            // Started again, the entry goes straight to what worked; the reprobe tries the WebSocket (refused again)
            // and the session carries on over HTTP.
            EntryProcess again = new EntryProcess(Map.of(
                    "SPLITSTREAM_TOKEN",
                    TOKEN,
                    "SPLITSTREAM_ENTRY_SERVER",
                    url,
                    "SPLITSTREAM_ENTRY_FORWARDS",
                    "0=127.0.0.1:" + targets.echoPort(),
                    "SPLITSTREAM_ENTRY_REPROBE_INTERVAL",
                    "2s",
                    "SPLITSTREAM_ENTRY_STATE_FILE",
                    state.toAbsolutePath().toString()));
            try {
                String id = again.awaitGroup(
                        "session established ([0-9a-f]{32}) transport=http-stream reason=remembered", WAIT);
                long refusedBefore = relay.refusedUpgrades.get();
                again.awaitGroup("(trying the websocket again \\(reprobe\\))", WAIT);
                again.awaitGroup("session resumed (" + id + ") transport=http-stream", WAIT);
                assertThat(relay.refusedUpgrades.get()).isGreaterThan(refusedBefore);
                echo(forwardPort(again), random(256 * 1024), read -> {});
            } finally {
                keepLog("auto-http-again", again);
            }
        }
    }

    @Test
    void compressionIsNegotiatedAndTextShrinksOnTheWire() throws Exception {
        try (TcpRelay relay = new TcpRelay(exitPort)) {
            EntryProcess entry = entry(
                    "compression",
                    Map.of(
                            "SPLITSTREAM_ENTRY_TRANSPORT",
                            "websocket",
                            "SPLITSTREAM_ENTRY_SERVER",
                            "ws://127.0.0.1:" + relay.port()));
            try {
                int port = forwardPort(entry);
                entry.awaitGroup(
                        "session established [0-9a-f]{32} transport=websocket reason=\\S+ (compression=deflate)", WAIT);
                StringBuilder text = new StringBuilder();
                for (int i = 0; text.length() < 4 * MIB; i++) {
                    text.append("line ").append(i).append(": the quick brown fox jumps over the lazy dog\n");
                }
                byte[] data = text.substring(0, 4 * MIB).getBytes(StandardCharsets.US_ASCII);
                long upBefore = relay.up.get();
                long downBefore = relay.down.get();
                echo(port, data, read -> {});
                long up = relay.up.get() - upBefore;
                long down = relay.down.get() - downBefore;
                System.out.printf("compression: 4 MiB of text each way took %d bytes up, %d bytes down%n", up, down);
                assertThat(up).isLessThan(data.length / 3);
                assertThat(down).isLessThan(data.length / 3);
            } finally {
                keepLog("compression", entry);
            }
        }
    }

    @Test
    void httpUpstreamBatchesLostOnTheWayAreResent() throws Exception {
        try (HttpRelay relay = new HttpRelay(exitPort, HttpRelay.Mode.FLAKY_UP)) {
            EntryProcess entry = entry(
                    "flaky",
                    Map.of(
                            "SPLITSTREAM_ENTRY_TRANSPORT", "http",
                            "SPLITSTREAM_ENTRY_HTTP_MAX_BATCH", "65536",
                            "SPLITSTREAM_ENTRY_SERVER", "http://127.0.0.1:" + relay.port()));
            try {
                int port = forwardPort(entry);
                entry.awaitGroup("session established ([0-9a-f]{32}) transport=http-stream", WAIT);
                echo(port, random(4 * MIB), read -> {});
                System.out.printf(
                        "http with lost upstream batches: 4 MiB echoed; %d of %d upstream POSTs failed%n",
                        relay.failedUpPosts.get(), relay.upPosts.get());
                assertThat(relay.failedUpPosts.get()).isGreaterThan(3);
            } finally {
                keepLog("flaky", entry);
            }
        }
    }

    /**
     * Issue 11, attack 6: a proxy answering 500 to every upstream POST made the entry re-send POSTs in a tight loop
     * (~27,000 in 2 minutes). Now every retry backs off (exponential, jittered, capped at reconnect-max), and the
     * session recovers once the proxy behaves.
     */
    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aProxyFailingEveryUpstreamPostGetsABoundedRateAndTheSessionRecovers() throws Exception {
        try (HttpRelay relay = new HttpRelay(exitPort, HttpRelay.Mode.FAIL_UP)) {
            EntryProcess entry = entry(
                    "fail-up",
                    Map.of(
                            "SPLITSTREAM_ENTRY_TRANSPORT", "http",
                            "SPLITSTREAM_ENTRY_RECONNECT_MAX", "2s",
                            "SPLITSTREAM_ENTRY_SERVER", "http://127.0.0.1:" + relay.port()));
            try {
                int port = forwardPort(entry);
                entry.awaitGroup("session established ([0-9a-f]{32}) transport=http-stream", WAIT);
                // the session's first upstream frames (acks, pings, an OPEN) meet the 500s
                Thread client = new Thread(() -> {
                    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                        s.setSoTimeout(120_000);
                        s.getOutputStream().write("hello".getBytes(StandardCharsets.UTF_8));
                        s.getInputStream().read();
                    } catch (IOException ignored) {
                        // the connection may be closed while the path is broken
                    }
                });
                client.setDaemon(true);
                client.start();
                // four failed cycles (a POST and its retries each): the reconnect backoff (250 ms doubling) has
                // reached its cap
                await().atMost(Duration.ofSeconds(90)).until(() -> relay.failedUpPosts.get() >= 20);
                long postsBefore = relay.posts.get();
                long upBefore = relay.allUpPosts.get();
                Duration window = Duration.ofSeconds(10);
                // a failed cycle: a handshake (2 POSTs), a POST and up to 4 retries (jittered, at least 2 s), then
                // reconnect-max jittered (1-2 s): at most 7 POSTs per ~2.9 s, where the tight loop sent ~2,000 in 10 s
                await("POSTs stay at most 40 within " + window)
                        .during(window)
                        .atMost(window.plusSeconds(5))
                        .until(() -> relay.posts.get() - postsBefore <= 40);
                long posts = relay.posts.get() - postsBefore;
                long upPosts = relay.allUpPosts.get() - upBefore;
                System.out.printf(
                        "proxy answering 500 to every upstream POST: %d POSTs (%d to /up) in %d s, %d failed in all%n",
                        posts, upPosts, window.toSeconds(), relay.failedUpPosts.get());
                // One WARN per state change: the same reason is never logged twice in a row (a loaded machine may
                // let the watchdog fire between two failed POST cycles, which is a change of reason and logged), and
                // a handful in all where the old code logged every retry (tens of thousands in two minutes).
                List<String> lost = entry.lines().stream()
                        .map(l -> {
                            Matcher m = LOST_REASON.matcher(l);
                            return m.find() ? m.group(1) : null;
                        })
                        .filter(java.util.Objects::nonNull)
                        .toList();
                for (int i = 1; i < lost.size(); i++) {
                    assertThat(lost.get(i))
                            .as("one WARN per state change: " + lost)
                            .isNotEqualTo(lost.get(i - 1));
                }
                assertThat(lost).as("one WARN per state change").hasSizeLessThanOrEqualTo(6);
                relay.failing = false;
                echo(port, random(MIB), read -> {});
                entry.awaitGroup("(stable again after \\d+ failed attempts)", WAIT);
            } finally {
                keepLog("fail-up", entry);
            }
        }
    }

    @Test
    void splitHttpPostsUpstreamAndStreamsDownstream() throws Exception {
        try (HttpRelay upRelay = new HttpRelay(exitPort, HttpRelay.Mode.REFUSE_UPGRADE);
                HttpRelay downRelay = new HttpRelay(exitPort, HttpRelay.Mode.REFUSE_UPGRADE)) {
            EntryProcess entry = entry(
                    "split-http",
                    Map.of(
                            "SPLITSTREAM_ENTRY_UPSTREAM", "http://127.0.0.1:" + upRelay.port(),
                            "SPLITSTREAM_ENTRY_DOWNSTREAM", "http://127.0.0.1:" + downRelay.port()));
            try {
                int port = forwardPort(entry);
                entry.awaitGroup(
                        "session established ([0-9a-f]{32}) transport=http-stream reason=websocket failed", WAIT);
                echo(port, random(2 * MIB), read -> {});
                assertThat(upRelay.requests.get()).isGreaterThan(2);
                assertThat(downRelay.requests.get()).isGreaterThan(2);
            } finally {
                keepLog("split-http", entry);
            }
        }
    }

    @Test
    void reprobeMovesTheSessionBackToTheWebSocketOnceItGetsThrough() throws Exception {
        try (TcpRelay relay = new TcpRelay(exitPort)) {
            relay.refuseUpgrades = true;
            String url = "ws://127.0.0.1:" + relay.port();
            EntryProcess entry = entry(
                    "reprobe", Map.of("SPLITSTREAM_ENTRY_SERVER", url, "SPLITSTREAM_ENTRY_REPROBE_INTERVAL", "2s"));
            Path state = Path.of("target", "it-reprobe-transports.json");
            try {
                int port = forwardPort(entry);
                String id = entry.awaitGroup(
                        "session established ([0-9a-f]{32}) transport=http-stream reason=websocket failed", WAIT);
                relay.refuseUpgrades = false;
                entry.awaitGroup("session resumed (" + id + ") transport=websocket", WAIT);
                echo(port, random(MIB), read -> {});
                await().atMost(WAIT)
                        .until(() -> Files.exists(state)
                                && Files.readString(state).contains("\"transport\" : \"websocket\""));
                assertThat(entry.output()).doesNotContain("starting a new session");
            } finally {
                keepLog("reprobe", entry);
            }
        }
    }
}
