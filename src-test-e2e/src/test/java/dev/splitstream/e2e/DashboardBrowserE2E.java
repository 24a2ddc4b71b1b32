package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.Fixtures;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Daemon;
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

    @Test
    void browserFiltersRouteRequestsByAgentAndStatusClass() throws Exception {
        Path node = Programs.require("node");
        Path npm = Programs.require("npm");
        Path chromium = Programs.require("chromium");
        Path curl = Programs.require("curl");
        Path script = installBrowserDriver(npm).resolveSibling("requests-check.mjs");
        String token = Tunnel.newToken();
        String shopToken = "shop-route-" + Tunnel.newToken().substring(0, 16);
        String blogToken = "blog-route-" + Tunnel.newToken().substring(0, 16);
        try (Closer closer = new Closer()) {
            Path www = Fixtures.tempDir("dashboard-www");
            Files.writeString(www.resolve("hello.txt"), "hello\n");
            int webPort = Ports.free();
            Daemon web = closer.add(Daemon.start(
                    "web",
                    NodeLogs.file("web"),
                    java.util.Map.of(),
                    List.of(
                            Programs.require("python3").toString(),
                            "-m",
                            "http.server",
                            "--bind",
                            "127.0.0.1",
                            "--directory",
                            www.toString(),
                            Integer.toString(webPort))));
            Fixtures.awaitPort(web, new InetSocketAddress("127.0.0.1", webPort), Duration.ofSeconds(60));
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .env("SPLITSTREAM_EXIT_DASHBOARD_PASSWORD", PASSWORD)
                            .set("splitstream.exit.max-connections-per-source", "4")
                            .start())
                    .awaitReady();
            for (String[] agent : new String[][] {{"shop", shopToken}, {"blog", blogToken}}) {
                closer.add(NodeSpec.entry("agent-" + agent[0])
                                .token(token)
                                .server(exit.wsUrl())
                                .set("splitstream.entry.agent", agent[0])
                                .set("splitstream.entry.expose", "web=http://127.0.0.1:" + webPort)
                                .env("SPLITSTREAM_ENTRY_ROUTE_TOKEN", agent[1])
                                .start())
                        .awaitLog("exposing web", Duration.ofSeconds(60));
            }
            // real route requests: shop 3 x 200 and 2 x 404, blog 1 x 200 and 1 x 404
            List<String[]> requests = List.of(
                    new String[] {shopToken, "/hello.txt", "200"},
                    new String[] {shopToken, "/hello.txt", "200"},
                    new String[] {shopToken, "/hello.txt", "200"},
                    new String[] {shopToken, "/missing-one", "404"},
                    new String[] {shopToken, "/missing-two", "404"},
                    new String[] {blogToken, "/hello.txt", "200"},
                    new String[] {blogToken, "/missing-blog", "404"});
            for (String[] r : requests) {
                String status = Exec.run(
                                Duration.ofSeconds(60),
                                curl.toString(),
                                "-sS",
                                "--noproxy",
                                "*",
                                "-o",
                                "/dev/null",
                                "-w",
                                "%{http_code}",
                                exit.httpUrl() + "/_token/" + r[0] + r[1] + "?q=secret-query")
                        .assertSuccess()
                        .output()
                        .trim();
                assertThat(status).as("%s", r[1]).isEqualTo(r[2]);
            }

            // one more loopback source holding six idle connections: the exit closes the two beyond its limit of 4
            List<Socket> held = new java.util.ArrayList<>();
            try {
                for (int i = 0; i < 6; i++) {
                    Socket socket = new Socket();
                    held.add(socket);
                    socket.bind(new InetSocketAddress("127.0.0.3", 0));
                    socket.connect(new InetSocketAddress("127.0.0.1", exit.httpPort()), 5000);
                }
                org.awaitility.Awaitility.await("connections of 127.0.0.3 refused")
                        .atMost(Duration.ofSeconds(60))
                        .until(() -> exit.metric(
                                        "splitstream_exit_connections_refused_total",
                                        "reason=\"connections_per_source\"")
                                >= 2);
            } finally {
                for (Socket socket : held) {
                    socket.close();
                }
            }

            Path shots = NodeLogs.dir();
            List<String> lines = runBrowser(
                    node,
                    chromium,
                    script,
                    exit.managementUrl() + "/dashboard/",
                    "admin",
                    PASSWORD,
                    shots.toString(),
                    "shop",
                    Integer.toString(requests.size()));
            assertThat(lines).contains("OK");
            assertThat(rows(lines, "view all all")).hasSize(7);
            List<String> shop = rows(lines, "view shop all");
            assertThat(shop).hasSize(5).allSatisfy(r -> assertThat(r).startsWith("shop/web | token | GET | "));
            List<String> shop4xx = rows(lines, "view shop 4xx");
            assertThat(shop4xx).hasSize(2).allSatisfy(r -> assertThat(r).contains(" | 404 | "));
            assertThat(String.join("\n", shop4xx)).contains("/missing-one").contains("/missing-two");
            List<String> ok = rows(lines, "view all 2xx");
            assertThat(ok).hasSize(4).allSatisfy(r -> assertThat(r).contains("| /hello.txt | 200 | "));
            assertThat(ok).filteredOn(r -> r.startsWith("blog/web")).hasSize(1);
            String page = Files.readString(shots.resolve("requests-page.txt"));
            assertThat(page).doesNotContain(shopToken).doesNotContain(blogToken).doesNotContain("secret-query");
            assertThat(lines)
                    .anyMatch(
                            l -> l.startsWith("refusal connection connections_per_source | connection from 127.0.0.3"));
            for (String shot : new String[] {
                "dashboard-requests-all.png", "dashboard-requests-filtered.png", "dashboard-refusals-connections.png"
            }) {
                assertThat(shots.resolve(shot)).as("screenshot").isNotEmptyFile();
            }
        }
    }

    /** The rows the browser script printed under its line {@code header} ("view shop 4xx"). */
    private static List<String> rows(List<String> lines, String header) {
        List<String> out = new java.util.ArrayList<>();
        boolean in = false;
        for (String line : lines) {
            if (line.startsWith("view ")) {
                in = line.startsWith(header + " ");
            } else if (in && line.startsWith("  row ")) {
                out.add(line.substring("  row ".length()));
            }
        }
        return out;
    }

    /** Runs a browser script to its end (at most 3 minutes); its lines, also kept in the test's log folder. */
    private static List<String> runBrowser(Path node, Path chromium, Path script, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(node.toString(), script.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .directory(script.getParent().toFile());
        Exec.scrubProxyVariables(pb.environment());
        pb.environment().put("CHROMIUM", chromium.toString());
        Path log = NodeLogs.file("browser-" + script.getFileName());
        NodeLogs.register("browser (" + script.getFileName() + ")", log);
        pb.redirectOutput(log.toFile());
        Process browser = pb.start();
        if (!browser.waitFor(3, TimeUnit.MINUTES)) {
            browser.destroyForcibly();
            throw new AssertionError("browser script did not finish within 3 minutes: " + Files.readString(log));
        }
        List<String> lines = Files.readAllLines(log);
        assertThat(browser.exitValue()).as("browser check: %s", lines).isZero();
        return lines;
    }

    /**
     * Copies the driver script and its package.json to target/browser and installs playwright-core there with npm
     * (once per build folder); returns the script.
     */
    private static Path installBrowserDriver(Path npm) throws Exception {
        Path source = Node.repoRoot().resolve("src-test-e2e/src/test/browser");
        Path dir = Node.repoRoot().resolve("src-test-e2e/target/browser");
        Files.createDirectories(dir);
        for (String file : new String[] {"package.json", "dashboard-check.mjs", "requests-check.mjs"}) {
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
