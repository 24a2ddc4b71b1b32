package dev.splitstream.e2e.harness;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a program to completion within a time limit and returns its exit status and output. */
public final class Exec {
    /** Proxy variables of the developer's shell must not leak into test clients or nodes. */
    private static final List<String> PROXY_VARIABLES = List.of(
            "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY");

    private Exec() {}

    /** What a finished program left. */
    public record Result(List<String> command, int exitCode, String output, Duration elapsed) {
        /** Fails with the command and its output unless it exited 0. */
        public Result assertSuccess() {
            if (exitCode != 0) {
                throw new AssertionError(describe("exited " + exitCode));
            }
            return this;
        }

        /** The command and its output, for failure messages. */
        public String describe(String what) {
            return String.join(" ", command) + " " + what + " after " + elapsed.toMillis() + " ms; output:\n" + output;
        }
    }

    /** Removes proxy variables from an environment a child process gets. */
    public static void scrubProxyVariables(Map<String, String> environment) {
        PROXY_VARIABLES.forEach(environment::remove);
    }

    /** Runs {@code command}; output (stdout and stderr merged) is captured whole. */
    public static Result run(Duration timeout, String... command) {
        return run(timeout, Map.of(), null, command);
    }

    /** Runs {@code command} with extra environment variables and an optional working folder. */
    public static Result run(Duration timeout, Map<String, String> env, Path workDir, String... command) {
        List<String> cmd = new ArrayList<>(Arrays.asList(command));
        Path output = null;
        long started = System.nanoTime();
        try {
            output = Files.createTempFile("splitstream-exec", ".out");
            ProcessBuilder builder = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            scrubProxyVariables(builder.environment());
            builder.environment().putAll(env);
            if (workDir != null) {
                builder.directory(workDir.toFile());
            }
            Process process = builder.start();
            boolean finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
            Duration elapsed = Duration.ofNanos(System.nanoTime() - started);
            String text = Files.readString(output, StandardCharsets.UTF_8);
            Result result = new Result(cmd, finished ? process.exitValue() : -1, text, elapsed);
            if (!finished) {
                throw new AssertionError(result.describe("did not finish within " + timeout));
            }
            return result;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + cmd, e);
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException ignored) {
                    // a temp file; the OS cleans up
                }
            }
        }
    }
}
