package dev.splitstream.e2e.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * JUnit extension: gives each test a log folder under {@code target/e2e-logs/<class>/<test>} and, when a test (or
 * its set-up) fails, prints the tail of every node and fixture log written for it. The logs stay on disk.
 */
public final class NodeLogs
        implements BeforeAllCallback,
                BeforeEachCallback,
                AfterAllCallback,
                TestExecutionExceptionHandler,
                LifecycleMethodExecutionExceptionHandler {
    private static final int TAIL_LINES = 150;
    private static final Path ROOT = Path.of("target", "e2e-logs").toAbsolutePath();

    private record Source(String name, Path file, boolean classLevel) {}

    private static final List<Source> SOURCES = new CopyOnWriteArrayList<>();
    private static volatile Path current = ROOT.resolve("unscoped");
    private static volatile boolean classLevel = true;

    /** The folder for the logs of the test (or the class set-up) running now. */
    public static Path dir() {
        try {
            return Files.createDirectories(current);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fresh log file name in {@link #dir()}. */
    public static Path file(String name) {
        Path dir = dir();
        Path candidate = dir.resolve(name + ".log");
        for (int i = 2; Files.exists(candidate); i++) {
            candidate = dir.resolve(name + "-" + i + ".log");
        }
        return candidate;
    }

    /** Registers a log file to be dumped when the current test fails. */
    public static void register(String name, Path file) {
        SOURCES.add(new Source(name, file, classLevel));
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        SOURCES.clear();
        classLevel = true;
        current = ROOT.resolve(context.getRequiredTestClass().getSimpleName()).resolve("setup");
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        SOURCES.removeIf(source -> !source.classLevel());
        classLevel = false;
        current = ROOT.resolve(context.getRequiredTestClass().getSimpleName())
                .resolve(context.getRequiredTestMethod().getName());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        SOURCES.clear();
        classLevel = true;
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        dump(context.getDisplayName(), throwable);
        throw throwable;
    }

    @Override
    public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable throwable)
            throws Throwable {
        dump("set-up of " + context.getDisplayName(), throwable);
        throw throwable;
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable throwable)
            throws Throwable {
        dump("set-up of " + context.getDisplayName(), throwable);
        throw throwable;
    }

    private static void dump(String what, Throwable cause) {
        StringBuilder out = new StringBuilder();
        out.append("\n===== ").append(what).append(" failed: ").append(cause).append("; logs follow =====\n");
        for (Source source : SOURCES) {
            out.append("----- ")
                    .append(source.name())
                    .append(" (")
                    .append(source.file().toAbsolutePath())
                    .append("), last ")
                    .append(TAIL_LINES)
                    .append(" lines -----\n");
            try {
                List<String> lines = new String(Files.readAllBytes(source.file()), StandardCharsets.UTF_8)
                        .lines()
                        .toList();
                lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size())
                        .forEach(line -> out.append(line).append('\n'));
            } catch (IOException | UncheckedIOException e) {
                out.append("(cannot read: ").append(e).append(")\n");
            }
        }
        out.append("===== end of logs for ").append(what).append(" =====\n");
        System.out.println(out);
    }
}
