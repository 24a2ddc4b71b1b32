package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.BufferedReader;
import java.io.DataOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The exit's web dashboard in a real browser: headless Chromium (Debian's) driven by npm's playwright-core (installed
 * here by npm; no browser download) watches a real transfer through a real entry: the session appears, its bytes grow,
 * and it leaves the page once the entry stops. Screenshots stay in the test's log folder
 * ({@code target/e2e-logs/DashboardBrowserE2E/...}).
 */
@ExtendWith(NodeLogs.class)
class DashboardBrowserE2E {
    private static final String PASSWORD =
            "e2e-dashboard-pw-" + Tunnel.newToken().substring(0, 8);

    @Test
    void browserSeesTheSessionItsBytesGrowAndTheSessionVanishAfterTheEntryStops() throws Exception {
        Path node = Programs.require("node");
        Path npm = Programs.require("npm");
        Path chromium = Programs.require("chromium");
        Path script = installBrowserDriver(npm);
        String token = Tunnel.newToken();
        int forward = Ports.free();
        int refusedForward = Ports.free();
        int publicPort = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .env("SPLITSTREAM_EXIT_DASHBOARD_PASSWORD", PASSWORD)
                            .set("splitstream.exit.public-ports", publicPort + "-" + publicPort)
                            .set("splitstream.exit.public-host", "127.0.0.1")
                            .start())
                    .awaitReady();
            Node entry = closer.add(NodeSpec.entry()
                            .token(token)
                            .server(exit.wsUrl())
                            .forward(forward, "127.0.0.1", target.port())
                            // a target outside the exit's allow-list, for the refusals page
                            .forward(refusedForward, "127.0.0.1", exit.managementPort())
                            // and an agent exposing one service, for the agents page
                            .set("splitstream.entry.agent", "dash-agent")
                            .set("splitstream.entry.expose", "echo=127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));
            try (Socket refused = new Socket()) {
                refused.connect(new InetSocketAddress("127.0.0.1", refusedForward), 5000);
                refused.setSoTimeout(30_000);
                assertThat(refused.getInputStream().read())
                        .as("refused stream closes")
                        .isEqualTo(-1);
            }

            AtomicBoolean stop = new AtomicBoolean();
            Thread transfer = steadyEcho(forward, stop);
            Path shots = NodeLogs.dir();
            ProcessBuilder pb = new ProcessBuilder(
                            node.toString(),
                            script.toString(),
                            exit.managementUrl() + "/dashboard/",
                            "admin",
                            PASSWORD,
                            shots.toString())
                    .redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .directory(script.getParent().toFile());
            Exec.scrubProxyVariables(pb.environment());
            pb.environment().put("CHROMIUM", chromium.toString());
            Process browser = pb.start();
            List<String> lines = new CopyOnWriteArrayList<>();
            Path browserLog = NodeLogs.file("browser");
            NodeLogs.register("browser (playwright-core)", browserLog);
            try (BufferedReader out =
                    new BufferedReader(new InputStreamReader(browser.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                    lines.add(line);
                    Files.writeString(
                            browserLog,
                            line + "\n",
                            java.nio.file.StandardOpenOption.CREATE,
                            java.nio.file.StandardOpenOption.APPEND);
                    if (line.startsWith("bytes-grew")) {
                        stop.set(true);
                        entry.close(); // SIGTERM: the entry closes its session, which must leave the page
                    }
                }
            } finally {
                stop.set(true);
                transfer.join(10_000);
                if (!browser.waitFor(30, TimeUnit.SECONDS)) {
                    browser.destroyForcibly();
                }
            }
            assertThat(browser.exitValue()).as("browser check: %s", lines).isZero();
            assertThat(lines).anyMatch(l -> l.startsWith("session-seen "));
            assertThat(lines).anyMatch(l -> l.startsWith("bytes-grew ") && l.contains("transport=websocket"));
            assertThat(lines)
                    .anyMatch(
                            l -> l.startsWith("agent dash-agent connected") && l.contains("public port " + publicPort));
            assertThat(lines).anyMatch(l -> l.startsWith("session-gone "));
            // the agent stopped: away, its port leased until the lease runs out
            assertThat(lines)
                    .anyMatch(l -> l.startsWith("agent-after dash-agent") && l.contains("away") && l.contains("until"));
            assertThat(lines).anyMatch(l -> l.startsWith("refusals ") && l.contains("NOT_ALLOWED"));
            assertThat(lines).contains("OK");
            for (String shot : new String[] {
                "dashboard-sessions.png",
                "dashboard-agents.png",
                "dashboard-after-entry-stopped.png",
                "dashboard-agents-after.png",
                "dashboard-refusals.png"
            }) {
                assertThat(shots.resolve(shot)).as("screenshot").isNotEmptyFile();
            }
        }
    }

    /**
     * Copies the driver script and its package.json to target/browser and installs playwright-core there with npm
     * (once per build folder); returns the script.
     */
    private static Path installBrowserDriver(Path npm) throws Exception {
        Path source = Node.repoRoot().resolve("src-test-e2e/src/test/browser");
        Path dir = Node.repoRoot().resolve("src-test-e2e/target/browser");
        Files.createDirectories(dir);
        for (String file : new String[] {"package.json", "dashboard-check.mjs"}) {
            Files.copy(source.resolve(file), dir.resolve(file), StandardCopyOption.REPLACE_EXISTING);
        }
        if (!Files.isDirectory(dir.resolve("node_modules/playwright-core"))) {
            Exec.run(
                            Duration.ofMinutes(5),
                            java.util.Map.of("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
                            dir,
                            npm.toString(),
                            "install",
                            "--no-audit",
                            "--no-fund",
                            "--no-save")
                    .assertSuccess();
        }
        return dir.resolve("dashboard-check.mjs");
    }

    /** Echoes 32 KiB every 100 ms through {@code port} until {@code stop} (or 3 minutes, or 512 MiB). */
    private static Thread steadyEcho(int port, AtomicBoolean stop) {
        Thread t = new Thread(
                () -> {
                    long limit = 512L * 1024 * 1024;
                    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
                    try (Socket socket = new Socket()) {
                        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                        socket.setTcpNoDelay(true);
                        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                        out.writeByte('E');
                        out.writeLong(limit);
                        InputStream in = socket.getInputStream();
                        byte[] chunk = new byte[32 * 1024];
                        byte[] back = new byte[chunk.length];
                        long sent = 0;
                        while (!stop.get() && System.nanoTime() < deadline && sent + chunk.length <= limit) {
                            out.write(chunk);
                            out.flush();
                            sent += chunk.length;
                            int read = 0;
                            while (read < chunk.length) {
                                int n = in.read(back, 0, chunk.length - read);
                                if (n < 0) {
                                    return;
                                }
                                read += n;
                            }
                            Thread.sleep(100);
                        }
                    } catch (Exception e) {
                        // the entry stopping ends the transfer: expected
                    }
                },
                "dashboard-transfer");
        t.setDaemon(true);
        t.start();
        return t;
    }
}
