package dev.splitstream.entry.it;

import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The packaged entry node ({@code target/quarkus-app/quarkus-run.jar}) as a child process, with its output kept. */
final class EntryProcess implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Thread reader;

    EntryProcess(Map<String, String> env) throws Exception {
        this(Path.of("target", "quarkus-app", "quarkus-run.jar"), env);
    }

    /** Any packaged Quarkus node (the exit node's jar for tests against the real thing). */
    EntryProcess(Path jar, Map<String, String> env) throws Exception {
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " is missing: run the package phase first");
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-jar", jar.toString()).redirectErrorStream(true);
        pb.environment()
                .keySet()
                .removeIf(k -> k.startsWith("SPLITSTREAM_") || k.toLowerCase().endsWith("_proxy"));
        pb.environment().put("QUARKUS_HTTP_PORT", "0");
        pb.environment().put("QUARKUS_MANAGEMENT_PORT", "0");
        // Never the user's transport memory.
        pb.environment()
                .put(
                        "SPLITSTREAM_ENTRY_STATE_FILE",
                        Path.of("target", "it-transports.json").toAbsolutePath().toString());
        pb.environment().putAll(env);
        process = pb.start();
        reader = new Thread(
                () -> {
                    try (BufferedReader r = new BufferedReader(
                            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = r.readLine()) != null) {
                            lines.add(line);
                        }
                    } catch (Exception ignored) {
                        // process ended
                    }
                },
                "entry-output");
        reader.setDaemon(true);
        reader.start();
    }

    List<String> lines() {
        return new ArrayList<>(lines);
    }

    String output() {
        return String.join("\n", lines);
    }

    /** The first group of the first line matching {@code regex}, waiting up to {@code timeout}. */
    String awaitGroup(String regex, Duration timeout) {
        Pattern p = Pattern.compile(regex);
        String[] found = new String[1];
        try {
            await().atMost(timeout).pollInterval(Duration.ofMillis(50)).until(() -> {
                if (!process.isAlive() && find(p).isEmpty()) {
                    throw new AssertionError("entry node exited (" + process.exitValue() + "):\n" + output());
                }
                Optional<String> g = find(p);
                g.ifPresent(s -> found[0] = s);
                return g.isPresent();
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no line matching " + regex + " within " + timeout + ":\n" + output(), e);
        }
        return found[0];
    }

    long count(String regex) {
        Pattern p = Pattern.compile(regex);
        return lines.stream().filter(l -> p.matcher(l).find()).count();
    }

    private Optional<String> find(Pattern p) {
        for (String line : lines) {
            Matcher m = p.matcher(line);
            if (m.find()) {
                return Optional.of(m.groupCount() > 0 ? m.group(1) : m.group());
            }
        }
        return Optional.empty();
    }

    /** SIGTERM, then the exit code. */
    int stop() throws Exception {
        // Through the handle: Process.destroy() would also close our end of its output, losing the shutdown lines.
        process.toHandle().destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
        }
        reader.join(5000);
        return process.exitValue();
    }

    int awaitExit(Duration timeout) throws Exception {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("entry node did not exit:\n" + output());
        }
        reader.join(5000);
        return process.exitValue();
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            stop();
        }
    }
}
