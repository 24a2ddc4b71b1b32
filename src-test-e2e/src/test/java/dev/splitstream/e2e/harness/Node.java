package dev.splitstream.e2e.harness;

import static org.awaitility.Awaitility.await;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.awaitility.core.ConditionTimeoutException;

/**
 * A running exit or entry node: the built jar in its own JVM, configured by system properties and environment
 * variables, its output in a log file (dumped by {@link NodeLogs} when a test fails). Closing stops it.
 */
public final class Node implements AutoCloseable {
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /**
     * Small heaps and a serial collector: several JVMs share two cores in these tests. C1 only: a node starts on about
     * 2 s less CPU than with C2 (most tests start nodes and move little); {@link NodeSpec#bulkJvmFlags()} drops it.
     */
    private static final String DEFAULT_JVM_FLAGS =
            "-Xmx256m -XX:+ExitOnOutOfMemoryError -XX:+UseSerialGC -XX:TieredStopAtLevel=1";

    /** The tests' JVM flags: {@code splitstream.e2e.jvm-flags}, else {@link #DEFAULT_JVM_FLAGS}. */
    static String testJvmFlags() {
        return System.getProperty("splitstream.e2e.jvm-flags", DEFAULT_JVM_FLAGS);
    }

    private final NodeSpec spec;
    private final Map<String, String> config;
    private final Path log;
    private Process process;

    Node(NodeSpec spec, Map<String, String> config) {
        this.spec = spec;
        this.config = config;
        this.log = NodeLogs.file(spec.name);
        NodeLogs.register(spec.name, log);
    }

    /** The repository root (system property {@code splitstream.root}, set by the build). */
    public static Path repoRoot() {
        return Path.of(System.getProperty("splitstream.root", "..")).toAbsolutePath();
    }

    synchronized void start() {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException(spec.name + " is already running");
        }
        Path jar = spec.jar();
        if (!Files.isRegularFile(jar)) {
            throw new AssertionError(jar + " is missing: build the nodes first (./mvnw -B package -DskipTests)");
        }
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String flags = spec.jvmFlags != null ? spec.jvmFlags : testJvmFlags();
        Arrays.stream(flags.trim().split("\\s+"))
                .filter(flag -> !flag.isEmpty())
                .forEach(command::add);
        config.forEach((key, value) -> command.add("-D" + key + "=" + value));
        command.add("-jar");
        command.add(jar.toString());
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .directory(log.getParent().toFile());
        Exec.scrubProxyVariables(builder.environment());
        builder.environment().remove("SPLITSTREAM_TOKEN");
        builder.environment().putAll(spec.env);
        try {
            appendMarker("starting " + spec.role + " on http port " + spec.httpPort + ", management port "
                    + spec.managementPort);
            process = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + spec.name, e);
        }
    }

    public String name() {
        return spec.name;
    }

    public int httpPort() {
        return spec.httpPort;
    }

    /** {@code http://127.0.0.1:<port>}. */
    public String httpUrl() {
        return "http://127.0.0.1:" + spec.httpPort;
    }

    public int managementPort() {
        return spec.managementPort;
    }

    /**
     * {@code http://127.0.0.1:<management port>}: health and metrics. With {@code splitstream.e2e.health-on-http-port}
     * (nodes from before the management interface, see {@code splitstream.e2e.nodes}) the HTTP port instead.
     */
    public String managementUrl() {
        return "http://127.0.0.1:"
                + (Boolean.getBoolean("splitstream.e2e.health-on-http-port") ? spec.httpPort : spec.managementPort);
    }

    /** {@code ws://127.0.0.1:<port>}: what an entry's server setting names for this exit. */
    public String wsUrl() {
        return "ws://127.0.0.1:" + spec.httpPort;
    }

    public synchronized long pid() {
        return process.pid();
    }

    public synchronized boolean isAlive() {
        return process != null && process.isAlive();
    }

    public Path log() {
        return log;
    }

    /** Waits up to 60 s for {@code /q/health/ready} (management port) to answer 200. */
    public Node awaitReady() {
        return awaitReady(Duration.ofSeconds(60));
    }

    /** Waits for {@code /q/health/ready} to answer 200; fails at once if the process exits. */
    public Node awaitReady(Duration timeout) {
        try {
            await(spec.name + " ready")
                    .atMost(timeout)
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> {
                        assertRunning();
                        return status(managementUrl() + "/q/health/ready") == 200;
                    });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(spec.name + " not ready within " + timeout + "; log: " + log, e);
        }
        return this;
    }

    /** Waits for a log line containing {@code text}; returns that line. */
    public String awaitLog(String text, Duration timeout) {
        return awaitLogCount(text, 1, timeout).get(0);
    }

    /** Waits until {@code count} log lines contain {@code text}; returns them. */
    public List<String> awaitLogCount(String text, int count, Duration timeout) {
        try {
            return await(spec.name + " logs '" + text + "' " + count + "x")
                    .atMost(timeout)
                    .pollInterval(Duration.ofMillis(100))
                    .until(() -> linesContaining(text), lines -> lines.size() >= count);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(
                    spec.name + " did not log '" + text + "' " + count + " time(s) within " + timeout + "; log: " + log,
                    e);
        }
    }

    /** Log lines containing {@code text}, oldest first. */
    public List<String> linesContaining(String text) {
        return logText().lines().filter(line -> line.contains(text)).toList();
    }

    /** The whole log so far. */
    public String logText() {
        try {
            return new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** {@code /q/metrics} (management port) as text. */
    public String metrics() {
        return fetch(managementUrl() + "/q/metrics").orElse("");
    }

    /** A metric's value from the Prometheus text, summed over the series whose line starts with {@code prefix}. */
    public double metric(String prefix) {
        return metrics()
                .lines()
                .filter(line -> line.startsWith(prefix))
                .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
                .sum();
    }

    /**
     * A metric's value summed over the series of {@code name} (Prometheus form, e.g.
     * {@code splitstream_exit_bytes_total}) whose labels contain {@code labelFragment}, ignoring case (e.g. {@code
     * reason="AUTH_FAILED"} matches the exit's {@code reason="auth_failed"}).
     */
    public double metric(String name, String labelFragment) {
        return metrics()
                .lines()
                .filter(line -> line.startsWith(name + "{") || line.startsWith(name + " "))
                .filter(line -> line.toLowerCase(Locale.ROOT).contains(labelFragment.toLowerCase(Locale.ROOT)))
                .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
                .sum();
    }

    /** GET on the node's HTTP port; empty when it does not answer 200. */
    public Optional<String> get(String path) {
        return fetch(httpUrl() + path);
    }

    /** GET on the node's management port; empty when it does not answer 200. */
    public Optional<String> managementGet(String path) {
        return fetch(managementUrl() + path);
    }

    /** The status of a GET on the node's HTTP port ({@code -1}: no answer). */
    public int httpStatus(String path) {
        return status(httpUrl() + path);
    }

    /** The status of a GET on the node's management port ({@code -1}: no answer). */
    public int managementStatus(String path) {
        return status(managementUrl() + path);
    }

    private static Optional<String> fetch(String url) {
        try {
            HttpResponse<String> response = HTTP.send(
                    HttpRequest.newBuilder(URI.create(url))
                            .timeout(Duration.ofSeconds(5))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? Optional.of(response.body()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    private static int status(String url) {
        try {
            return HTTP.send(
                            HttpRequest.newBuilder(URI.create(url))
                                    .timeout(Duration.ofSeconds(2))
                                    .build(),
                            HttpResponse.BodyHandlers.discarding())
                    .statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private synchronized void assertRunning() {
        if (process == null || !process.isAlive()) {
            throw new AssertionError(spec.name + " exited"
                    + (process == null ? "" : " with status " + process.exitValue()) + "; log: " + log);
        }
    }

    /** SIGKILL: the node gets no chance to say goodbye (a crash, a pulled plug). */
    public synchronized void kill() {
        if (process == null) {
            return;
        }
        process.destroyForcibly();
        waitForExit(Duration.ofSeconds(10));
        appendMarker("killed (SIGKILL)");
    }

    /** SIGTERM (a graceful shutdown), SIGKILL after 15 s. */
    public synchronized void stop() {
        if (process == null || !process.isAlive()) {
            return;
        }
        process.destroy();
        if (!waitForExit(Duration.ofSeconds(15))) {
            process.destroyForcibly();
            waitForExit(Duration.ofSeconds(10));
            appendMarker("did not stop within 15 s of SIGTERM; killed");
        }
    }

    /** Starts the node again with the same configuration and ports (after {@link #kill()} or {@link #stop()}). */
    public Node restart() {
        stop();
        start();
        return this;
    }

    private boolean waitForExit(Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void appendMarker(String text) {
        try {
            Files.writeString(
                    log,
                    "##### e2e harness: " + spec.name + " " + text + System.lineSeparator(),
                    StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            // the marker only helps reading the log
        }
    }

    /** Resident set size now and at peak, kB, from /proc (Linux). */
    public long[] rssKb() {
        try {
            long now = 0;
            long peak = 0;
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
                if (line.startsWith("VmRSS:")) {
                    now = Long.parseLong(line.replaceAll("\\D", ""));
                } else if (line.startsWith("VmHWM:")) {
                    peak = Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
            return new long[] {now, peak};
        } catch (IOException e) {
            return new long[] {-1, -1};
        }
    }

    @Override
    public void close() {
        stop();
    }

    @Override
    public String toString() {
        return spec.name + "(http " + spec.httpPort + ", management " + spec.managementPort + ")";
    }
}
