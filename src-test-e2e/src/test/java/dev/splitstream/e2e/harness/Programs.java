package dev.splitstream.e2e.harness;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Finds the real programs a test drives. A test whose program is absent is skipped on a developer machine, but fails
 * under {@code CI=true}: CI installs them (scripts/install-test-deps.sh) and must not go green by skipping.
 */
public final class Programs {
    private Programs() {}

    /** True when the environment variable {@code CI} is {@code true} (or {@code 1}). */
    public static boolean ci() {
        String ci = System.getenv("CI");
        return ci != null && (ci.equalsIgnoreCase("true") || ci.equals("1"));
    }

    /** The program's path, or a skipped test (a failed one under CI) when it is not installed. */
    public static Path require(String name) {
        Optional<Path> found = find(name);
        if (found.isPresent()) {
            return found.get();
        }
        String message = name + " is not installed (scripts/install-test-deps.sh installs it)";
        if (ci()) {
            fail(message + "; CI=true does not skip tests for missing programs");
        }
        Assumptions.abort(message);
        throw new AssertionError("unreachable");
    }

    /** The program on PATH, in the sbin folders or in PostgreSQL's versioned bin folder. */
    public static Optional<Path> find(String name) {
        List<Path> dirs = new ArrayList<>();
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty()) {
                dirs.add(Path.of(dir));
            }
        }
        dirs.add(Path.of("/usr/sbin"));
        dirs.add(Path.of("/sbin"));
        dirs.add(Path.of("/usr/local/sbin"));
        dirs.addAll(postgresBinDirs());
        for (Path dir : dirs) {
            Path candidate = dir.resolve(name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<major>/bin; 15 first, then the newest. */
    private static List<Path> postgresBinDirs() {
        Path base = Path.of("/usr/lib/postgresql");
        List<Path> dirs = new ArrayList<>();
        if (Files.isDirectory(base.resolve("15/bin"))) {
            dirs.add(base.resolve("15/bin"));
        }
        if (Files.isDirectory(base)) {
            try (Stream<Path> versions = Files.list(base)) {
                versions.map(v -> v.resolve("bin"))
                        .filter(Files::isDirectory)
                        .sorted(Comparator.reverseOrder())
                        .forEach(dirs::add);
            } catch (IOException e) {
                // no versioned folders: fall back to PATH only
            }
        }
        return dirs;
    }
}
