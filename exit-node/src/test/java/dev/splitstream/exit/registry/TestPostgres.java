package dev.splitstream.exit.registry;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throwaway PostgreSQL cluster for tests (Debian's binaries: initdb and pg_ctl, found on the PATH or under
 * /usr/lib/postgresql/N/bin): trust authentication on 127.0.0.1 at an ephemeral port, run as the {@code postgres}
 * user when the tests run as root. As a Quarkus test resource it configures the exit for {@code registry=postgres}.
 */
public final class TestPostgres implements QuarkusTestResourceLifecycleManager {
    /** The cluster of the running test resource (tests stop and start it). */
    public static volatile TestPostgres current;

    private Path dir;
    private Path data;
    private Path log;
    private int port;
    private final List<String> asUser = new ArrayList<>();
    private Path bin;

    @Override
    public Map<String, String> start() {
        try {
            bin = findBin();
            dir = Files.createTempDirectory("splitstream-pg");
            data = dir.resolve("data");
            log = dir.resolve("postgres.log");
            if ("root".equals(System.getProperty("user.name"))) {
                run("chown", "-R", "postgres:postgres", dir.toString());
                asUser.addAll(List.of("runuser", "-u", "postgres", "--"));
            }
            port = freePort();
            runAs(
                    bin.resolve("initdb").toString(),
                    "-D",
                    data.toString(),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync");
            startServer();
            runAs(
                    bin.resolve("createdb").toString(),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    Integer.toString(port),
                    "-U",
                    "postgres",
                    "splitstream");
            current = this;
            return Map.of(
                    "splitstream.exit.registry", "postgres",
                    "splitstream.exit.replica-url", "http://127.0.0.1:1",
                    "splitstream.exit.cluster-secret", "test-cluster-secret-0123456789",
                    "splitstream.exit.replica-id", "test-replica",
                    "splitstream.exit.heartbeat-interval", "500ms",
                    "splitstream.exit.replica-offline-after", "2s",
                    "quarkus.datasource.jdbc.url", jdbcUrl(),
                    "quarkus.datasource.username", "postgres",
                    "quarkus.datasource.password", "unused");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/splitstream";
    }

    /** Starts the server (again, on the same port). */
    public void startServer() {
        runAs(
                bin.resolve("pg_ctl").toString(),
                "-D",
                data.toString(),
                "-l",
                log.toString(),
                "-w",
                "-t",
                "60",
                "-o",
                "-p " + port + " -c listen_addresses=127.0.0.1 -k " + dir
                        + " -c fsync=off -c full_page_writes=off -c max_connections=50",
                "start");
    }

    /** Stops the server at once (every connection is cut). */
    public void stopServer() {
        runAs(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", "immediate", "-w", "stop");
    }

    @Override
    public void stop() {
        try {
            stopServer();
        } catch (RuntimeException e) {
            // already stopped
        }
        current = null;
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // temp folder, best effort
        }
    }

    private static Path findBin() {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty()
                    && Files.isExecutable(Path.of(d, "initdb"))
                    && Files.isExecutable(Path.of(d, "pg_ctl"))
                    && Files.isExecutable(Path.of(d, "createdb"))) {
                return Path.of(d);
            }
        }
        try (Stream<Path> versions = Files.list(Path.of("/usr/lib/postgresql"))) {
            return versions.map(v -> v.resolve("bin"))
                    .filter(b -> Files.isExecutable(b.resolve("initdb")))
                    .max(Comparator.naturalOrder())
                    .orElseThrow();
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException(
                    "PostgreSQL's initdb/pg_ctl not found (install it: scripts/install-test-deps.sh)");
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private void runAs(String... command) {
        List<String> full = new ArrayList<>(asUser);
        full.addAll(List.of(command));
        run(full.toArray(String[]::new));
    }

    private void run(String... command) {
        try {
            Process p = new ProcessBuilder(command)
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(
                            dir.resolve("commands.log").toFile().exists()
                                    ? ProcessBuilder.Redirect.appendTo(
                                            dir.resolve("commands.log").toFile())
                                    : ProcessBuilder.Redirect.to(
                                            dir.resolve("commands.log").toFile()))
                    .start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("timed out: " + String.join(" ", command));
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException("failed (" + p.exitValue() + "): " + String.join(" ", command) + "\n"
                        + Files.readString(dir.resolve("commands.log")));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
