package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.splitstream.e2e.fixture.Fixtures;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Daemon;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * HTTP routes, the Hub API and {@code /_stats} with real processes: one exit (routes, a host domain, a Hub token), one
 * agent exposing an nginx (static files, WebDAV PUT) and a small SSE server (python), curl as the client. The exit and
 * the agent are shared by every case.
 */
@ExtendWith(NodeLogs.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RoutesE2E {
    private static final Duration CURL = Duration.ofSeconds(240);
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(4);
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration SEND_TIMEOUT = Duration.ofSeconds(4);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    /**
     * How long a request waits for an agent that is away (the default is 30 s): long enough for a queued request to be
     * counted and the third refused meanwhile, and for the late request, released the moment the agent's path opens.
     */
    private static final Duration QUEUE_TIMEOUT = Duration.ofSeconds(8);

    private static final long MIB = 1024 * 1024;
    private static final String ROUTE_TOKEN = "route-" + Tunnel.newToken().substring(0, 24);
    private static final String DASHBOARD_PASSWORD = "dash-" + Tunnel.newToken().substring(0, 16);
    private static final String HUB_TOKEN = "hub-" + Tunnel.newToken();
    private static final String AGENTS = Tunnel.newToken();

    private static final Closer SHARED = new Closer();
    private static Node exit;
    private static Node agent;
    private static Path www;
    private static int nginxPort;
    private static int ssePort;
    /** A listening socket whose accept backlog is full: a further SYN to it is dropped, as by a blackhole. */
    private static int fullBacklogPort;

    @BeforeAll
    static void start() throws Exception {
        www = Fixtures.tempDir("routes-www");
        Files.createDirectories(www.resolve("up"));
        // nginx's workers (nobody, when the test runs as root) write the uploads here
        Files.setPosixFilePermissions(
                www.resolve("up"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.writeString(www.resolve("hello.txt"), "hello through a route\n");
        nginxPort = Ports.free();
        Path dir = Fixtures.tempDir("routes-nginx");
        Fixtures.write(
                dir.resolve("nginx.conf"),
                String.join(
                        "\n",
                        "worker_processes 1;",
                        "pid " + dir.resolve("nginx.pid") + ";",
                        "events { worker_connections 256; }",
                        "http {",
                        "  access_log " + NodeLogs.file("backend-nginx-access").toAbsolutePath() + ";",
                        "  client_body_temp_path " + dir.resolve("body") + ";",
                        "  client_max_body_size 0;",
                        "  server {",
                        "    listen 127.0.0.1:" + nginxPort + ";",
                        "    root " + www + ";",
                        "    location /up/ { dav_methods PUT; create_full_put_path on; }",
                        "    location = /echo-headers { add_header X-Seen-Forwarded-For $http_x_forwarded_for;"
                                + " add_header X-Seen-Host $http_host; add_header X-Seen-Token \"$http_x_token\";"
                                + " return 200 \"ok\\n\"; }",
                        "  }",
                        "}",
                        ""));
        Path errorLog = NodeLogs.file("backend-nginx-error");
        Daemon nginx = SHARED.add(Daemon.start(
                "backend-nginx",
                NodeLogs.file("backend-nginx"),
                Map.of(),
                List.of(
                        Programs.require("nginx").toString(),
                        "-p",
                        dir.toString(),
                        "-e",
                        errorLog.toAbsolutePath().toString(),
                        "-c",
                        dir.resolve("nginx.conf").toString(),
                        "-g",
                        "daemon off;")));
        Fixtures.awaitPort(nginx, new InetSocketAddress("127.0.0.1", nginxPort), WAIT);

        ssePort = Ports.free();
        Path sse = dir.resolve("sse.py");
        Fixtures.write(
                sse,
                String.join(
                        "\n",
                        "import http.server, sys, time",
                        "class H(http.server.BaseHTTPRequestHandler):",
                        "    protocol_version = 'HTTP/1.1'",
                        "    answered = 0",
                        "    def do_GET(self):",
                        // one handler per connection: /once answers the first request on a connection, then is silent
                        "        if self.path.startswith('/once'):",
                        "            self.answered += 1",
                        "            if self.answered > 1:",
                        "                time.sleep(60)",
                        "                self.close_connection = True",
                        "                return",
                        "            self.send_response(200)",
                        "            self.send_header('Content-Length', '5')",
                        "            self.end_headers()",
                        "            self.wfile.write(b'once\\n')",
                        "            return",
                        "        if self.path.startswith('/silent'):",
                        "            time.sleep(60)",
                        "            self.close_connection = True",
                        "            return",
                        "        if self.path.startswith('/stall'):",
                        "            self.send_response(200)",
                        "            self.send_header('Content-Length', '100')",
                        "            self.end_headers()",
                        "            self.wfile.write(b'0123456789')",
                        "            self.wfile.flush()",
                        "            time.sleep(60)",
                        "            self.close_connection = True",
                        "            return",
                        "        if self.path.startswith('/heartbeat'):",
                        "            self.send_response(200)",
                        "            self.send_header('Content-Type', 'text/event-stream')",
                        "            self.send_header('Connection', 'close')",
                        "            self.end_headers()",
                        "            for i in range(8):",
                        "                self.wfile.write(('data: beat %d\\n\\n' % i).encode())",
                        "                self.wfile.flush()",
                        "                time.sleep(1)",
                        "            return",
                        "        self.send_response(200)",
                        "        self.send_header('Content-Type', 'text/event-stream')",
                        "        self.send_header('Cache-Control', 'no-cache')",
                        "        self.send_header('Connection', 'close')",
                        "        self.end_headers()",
                        "        for i in range(3):",
                        "            self.wfile.write(('data: %d %f\\n\\n' % (i, time.time())).encode())",
                        "            self.wfile.flush()",
                        "            time.sleep(1)",
                        // a service that never reads a request body
                        "    def do_PUT(self):",
                        "        time.sleep(60)",
                        "        self.close_connection = True",
                        "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()",
                        ""));
        Daemon python = SHARED.add(Daemon.start(
                "sse",
                NodeLogs.file("sse"),
                Map.of(),
                List.of(Programs.require("python3").toString(), sse.toString(), Integer.toString(ssePort))));
        Fixtures.awaitPort(python, new InetSocketAddress("127.0.0.1", ssePort), WAIT);

        // Backlog 1, never accepting: Linux keeps backlog + 1 handshaken connections in the accept queue and drops
        // further SYNs, so a connect to it waits until the dialer's timeout (as a firewall that drops packets would).
        java.net.ServerSocket full =
                SHARED.add(new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()));
        fullBacklogPort = full.getLocalPort();
        boolean blocked = false;
        for (int i = 0; i < 16 && !blocked; i++) {
            Socket filler = new Socket();
            try {
                filler.connect(new InetSocketAddress("127.0.0.1", fullBacklogPort), 1000);
                SHARED.add(filler);
            } catch (java.net.SocketTimeoutException e) {
                filler.close();
                blocked = true;
            }
        }
        assertThat(blocked).as("a connect to the full backlog hangs").isTrue();

        Path tokens = Fixtures.tempDir("routes-tokens").resolve("tokens.yaml");
        Files.writeString(
                tokens,
                String.join(
                        "\n",
                        "tokens:",
                        "  - id: agents",
                        "    secret: \"" + AGENTS + "\"",
                        "    expose: {maxQueued: 2}",
                        ""));
        exit = SHARED.add(NodeSpec.exit("exit-routes")
                        // 256 MiB each way through a route
                        .bulkJvmFlags()
                        .set("splitstream.exit.tokens-file", tokens.toString())
                        .set("splitstream.exit.http-domain", "routes.test")
                        .set("splitstream.exit.hub-token", HUB_TOKEN)
                        .set("splitstream.exit.queue-timeout", QUEUE_TIMEOUT.toMillis() + "ms")
                        // short enough for the silent-service cases; the other cases' answers start at once and their
                        // bodies (SSE: an event a second) never pause this long
                        .set("splitstream.exit.route-response-timeout", RESPONSE_TIMEOUT.toMillis() + "ms")
                        .set("splitstream.exit.route-read-timeout", READ_TIMEOUT.toMillis() + "ms")
                        .set("splitstream.exit.route-send-timeout", SEND_TIMEOUT.toMillis() + "ms")
                        .set("splitstream.exit.dashboard.password", DASHBOARD_PASSWORD)
                        .start())
                .awaitReady();
        agent = SHARED.add(agent("web-host").start());
        agent.awaitLog("exposing web http://127.0.0.1:" + nginxPort + " as an HTTP service", WAIT);
        agent.awaitLog("exposing events", WAIT);
        agent.awaitLog("exposing once", WAIT);
        agent.awaitLog("exposing stuck", WAIT);
    }

    private static NodeSpec agent(String name) {
        return NodeSpec.entry(name)
                .bulkJvmFlags()
                .token(AGENTS)
                .set("splitstream.token-id", "agents")
                .set("splitstream.entry.agent", name)
                .set(
                        "splitstream.entry.expose",
                        // "once": the same python service under its own name, so its pooled connections are its own
                        "web=http://127.0.0.1:" + nginxPort + ",events=http://127.0.0.1:" + ssePort
                                + ",once=http://127.0.0.1:" + ssePort + ",stuck=http://127.0.0.1:" + fullBacklogPort)
                .set("splitstream.entry.service-connect-timeout", CONNECT_TIMEOUT.toMillis() + "ms")
                .set("splitstream.entry.route-token", ROUTE_TOKEN)
                .set("splitstream.entry.http-hosts", "http://localhost:\\d+")
                .server(exit.wsUrl());
    }

    @AfterAll
    static void stop() throws Exception {
        SHARED.close();
    }

    /** {@code n} GETs of missing files {@code <prefix>1.txt ...} through the route, 8 connections at once: all 404. */
    private static void burstOf404s(String prefix, int n) {
        String codes = curl(
                        "-Z",
                        "--parallel-max",
                        "8",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}\n",
                        exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/" + prefix + "[1-" + n + "].txt")
                .assertSuccess()
                .output();
        assertThat(codes.lines().filter(c -> c.equals("404")).count()).isEqualTo(n);
    }

    private static Exec.Result curl(String... args) {
        List<String> command = new ArrayList<>();
        command.add(Programs.require("curl").toString());
        command.add("-sS");
        command.add("--noproxy");
        command.add("*");
        command.add("--max-time");
        command.add("200");
        command.addAll(List.of(args));
        return Exec.run(CURL, command.toArray(String[]::new));
    }

    /** curl printing the body, then a last line with the status code. */
    private static String[] bodyAndStatus(String... args) {
        List<String> all = new ArrayList<>(List.of("-w", "\n%{http_code}"));
        all.addAll(List.of(args));
        String out = curl(all.toArray(String[]::new)).assertSuccess().output();
        int nl = out.lastIndexOf('\n');
        return new String[] {
            out.substring(0, Math.max(0, nl)).strip(), out.substring(nl + 1).trim()
        };
    }

    @Test
    @Order(1)
    void curlReachesNginxBehindTheAgentByTokenPathHeaderAndHost() {
        String base = exit.httpUrl();
        String[] byPath = bodyAndStatus(base + "/_token/" + ROUTE_TOKEN + "/hello.txt");
        assertThat(byPath[1]).isEqualTo("200");
        assertThat(byPath[0]).isEqualTo("hello through a route");

        String[] byHeader = bodyAndStatus("-H", "X-Token: " + ROUTE_TOKEN, base + "/hello.txt");
        assertThat(byHeader[1]).isEqualTo("200");
        assertThat(byHeader[0]).isEqualTo("hello through a route");

        String[] byHost = bodyAndStatus(
                "--resolve",
                "web.routes.test:" + exit.httpPort() + ":127.0.0.1",
                "http://web.routes.test:" + exit.httpPort() + "/hello.txt");
        assertThat(byHost[1]).isEqualTo("200");
        assertThat(byHost[0]).isEqualTo("hello through a route");

        // what the service sees: X-Forwarded-For set, its own Host, and never the route token
        String headers = curl("-D", "-", "-o", "/dev/null", "-H", "X-Token: " + ROUTE_TOKEN, base + "/echo-headers")
                .assertSuccess()
                .output();
        assertThat(headers).contains("X-Seen-Forwarded-For: 127.0.0.1");
        assertThat(headers).contains("X-Seen-Host: 127.0.0.1:" + nginxPort);
        assertThat(headers).doesNotContain(ROUTE_TOKEN);

        // HEAD carries a length but no body: the exit must not wait for one
        String head = curl("-I", base + "/_token/" + ROUTE_TOKEN + "/hello.txt")
                .assertSuccess()
                .output();
        assertThat(head).startsWith("HTTP/1.1 200").contains("Content-Length: 22");

        assertThat(exit.metric("splitstream_exit_route_requests_seconds_count", "status=\"2xx\""))
                .isGreaterThanOrEqualTo(5);
    }

    /** The dashboard's request log as JSON (curl with Basic credentials on the management port). */
    private static JsonNode requestLog(String query) throws Exception {
        String out = curl(
                        "--fail",
                        "-u",
                        "admin:" + DASHBOARD_PASSWORD,
                        exit.managementUrl() + "/dashboard/api/requests" + query)
                .assertSuccess()
                .output();
        return new ObjectMapper().readTree(out);
    }

    @Test
    @Order(2)
    void theRequestLogShowsEachRouteRequestWithStatusAndBytesButNoSecret() throws Exception {
        String base = exit.httpUrl();
        String nonce = Tunnel.newToken().substring(0, 10);
        String querySecret = "qs-" + Tunnel.newToken().substring(0, 16);
        String[] got = bodyAndStatus(base + "/_token/" + ROUTE_TOKEN + "/hello.txt?key=" + querySecret);
        assertThat(got[1]).isEqualTo("200");
        String[] put = bodyAndStatus(
                "-X",
                "PUT",
                "--data-binary",
                "p".repeat(1000),
                "-H",
                "X-Token: " + ROUTE_TOKEN,
                base + "/up/log-" + nonce + ".txt");
        assertThat(put[1]).isIn("201", "204");
        String[] missing = bodyAndStatus("-H", "X-Token: " + ROUTE_TOKEN, base + "/missing-" + nonce + ".txt");
        assertThat(missing[1]).isEqualTo("404");

        // entries are written when the response ends; curl has its answer a moment before the exit's callback runs
        org.awaitility.Awaitility.await("three requests in the log")
                .atMost(WAIT)
                .until(() -> requestLog("?agent=web-host").toString().contains("missing-" + nonce));
        JsonNode all = requestLog("?agent=web-host");
        String text = all.toString();
        assertThat(text).doesNotContain(ROUTE_TOKEN).doesNotContain(querySecret);

        JsonNode hello = first(all, "GET", "/hello.txt");
        assertThat(hello.get("status").asInt()).isEqualTo(200);
        assertThat(hello.get("bytesOut").asLong()).isEqualTo(22); // "hello through a route\n"
        assertThat(hello.get("bytesIn").asLong()).isZero();
        assertThat(hello.get("via").asText()).isEqualTo("token");
        assertThat(hello.get("service").asText()).isEqualTo("web");

        JsonNode upload = first(all, "PUT", "/up/log-" + nonce + ".txt");
        assertThat(upload.get("status").asInt()).isEqualTo(Integer.parseInt(put[1]));
        assertThat(upload.get("bytesIn").asLong()).isEqualTo(1000);

        JsonNode notFound = first(all, "GET", "/missing-" + nonce + ".txt");
        assertThat(notFound.get("status").asInt()).isEqualTo(404);
        assertThat(notFound.get("bytesOut").asLong()).isPositive(); // nginx's error page

        // filters: by status class on the server, and an agent nobody has
        JsonNode fourXx = requestLog("?agent=web-host&status=4xx");
        assertThat(fourXx.get("requests")).isNotEmpty();
        fourXx.get("requests").forEach(r -> assertThat(r.get("status").asInt()).isBetween(400, 499));
        assertThat(fourXx.toString()).contains("missing-" + nonce).doesNotContain("log-" + nonce);
        assertThat(requestLog("?agent=nobody-here").get("requests")).isEmpty();
        assertThat(curl(
                                "-u",
                                "admin:" + DASHBOARD_PASSWORD,
                                "-o",
                                "/dev/null",
                                "-w",
                                "%{http_code}",
                                exit.managementUrl() + "/dashboard/api/requests?status=600")
                        .assertSuccess()
                        .output()
                        .trim())
                .isEqualTo("400");
    }

    @Test
    @Order(2)
    void theAgentLogsEachRequestAsOneLineAndCountsItWithoutTheRouteToken() {
        String base = exit.httpUrl();
        String nonce = Tunnel.newToken().substring(0, 10);
        String querySecret = "qs-" + Tunnel.newToken().substring(0, 16);
        String[] got = bodyAndStatus(base + "/_token/" + ROUTE_TOKEN + "/hello.txt?n=" + nonce + "&key=" + querySecret);
        assertThat(got[1]).isEqualTo("200");
        // a client may put the token into the path again: it reaches nginx (404), never the agent's log
        String[] nested =
                bodyAndStatus(base + "/_token/" + ROUTE_TOKEN + "/_token/" + ROUTE_TOKEN + "/nested-" + nonce);
        assertThat(nested[1]).isEqualTo("404");
        String[] viaHub = bodyAndStatus(
                "-H",
                "Authorization: Bearer " + HUB_TOKEN,
                base + "/hub/v1/agents/web-host/services/web/hub-" + nonce + ".txt");
        assertThat(viaHub[1]).isEqualTo("404");

        // the exit reports each request when it ends, a moment after curl has its answer
        String line = agent.awaitLog("[web] GET /hello.txt 200 ", WAIT);
        assertThat(line).containsPattern("\\[web\\] GET /hello.txt 200 [0-9.]+ (us|ms|s) 22 B");
        String nestedLine = agent.awaitLog("/nested-" + nonce + " 404 ", WAIT);
        // the first /_token/<t> was the route; the second is what the service saw, and it shows redacted
        assertThat(nestedLine).contains("[web] GET /_token/<redacted>/nested-" + nonce + " 404 ");
        assertThat(agent.awaitLog("/hub-" + nonce + ".txt 404 ", WAIT)).endsWith(" via hub");
        assertThat(agent.logText()).doesNotContain(ROUTE_TOKEN).doesNotContain(querySecret);

        assertThat(agent.metric("splitstream_entry_route_requests_seconds_count", "status=\"2xx\""))
                .isGreaterThanOrEqualTo(1);
        assertThat(agent.metric("splitstream_entry_route_requests_seconds_count", "status=\"4xx\""))
                .isGreaterThanOrEqualTo(2);
        assertThat(agent.metrics()).contains("service=\"web\"").doesNotContain(ROUTE_TOKEN);
        assertThat(exit.metric("splitstream_exit_route_reports_total", "outcome=\"sent\""))
                .isGreaterThanOrEqualTo(3);
    }

    @Test
    @Order(2)
    void aBurstOfRequestsIsOneAgentLineEachBecauseReportsTravelBatched() {
        // 600 requests as fast as 8 parallel keep-alive connections go: an exit that sent one ROUTE_LOG each at most
        // 100 a second (and an agent that logged at most 100 lines a second) logged a few hundred of them
        String nonce = Tunnel.newToken().substring(0, 10);
        int n = 600;
        burstOf404s("burst-" + nonce + "-", n);
        List<String> lines = agent.awaitLogCount("/burst-" + nonce + "-", n, WAIT);
        assertThat(lines).hasSize(n).allSatisfy(l -> assertThat(l).contains("[web] GET /burst-" + nonce + "-"));
        assertThat(agent.linesContaining("/burst-" + nonce + "-1.txt 404 ")).hasSize(1);
        assertThat(agent.linesContaining("/burst-" + nonce + "-" + n + ".txt 404 "))
                .hasSize(1);
    }

    private static JsonNode first(JsonNode log, String method, String path) {
        for (JsonNode r : log.get("requests")) {
            if (r.get("method").asText().equals(method)
                    && r.get("path").asText().equals(path)) {
                return r;
            }
        }
        throw new AssertionError("no " + method + " " + path + " in " + log);
    }

    @Test
    @Order(2)
    void unknownRoutesAre404WithoutAHintAndTheTokenNeverReachesLogs() {
        String base = exit.httpUrl();
        String[] wrong = bodyAndStatus(base + "/_token/not-a-token-at-all-000/hello.txt");
        assertThat(wrong[1]).isEqualTo("404");
        assertThat(wrong[0]).isEqualTo("no such route");
        String[] wrongHeader = bodyAndStatus("-H", "X-Token: nope-nope-nope-nope", base + "/hello.txt");
        assertThat(wrongHeader[1]).isEqualTo("404");
        assertThat(wrongHeader[0]).isEqualTo(wrong[0]);
        String[] wrongHost = bodyAndStatus(
                "--resolve",
                "nothing.routes.test:" + exit.httpPort() + ":127.0.0.1",
                "http://nothing.routes.test:" + exit.httpPort() + "/hello.txt");
        assertThat(wrongHost[1]).isEqualTo("404");
        assertThat(wrongHost[0]).isEqualTo(wrong[0]);
        // oversized headers get a clear status, and the route still works afterwards
        String[] big = bodyAndStatus(
                "-H", "X-Big: " + "a".repeat(64 * 1024), "-H", "X-Token: " + ROUTE_TOKEN, base + "/hello.txt");
        assertThat(big[1]).isIn("431", "400", "413");
        assertThat(bodyAndStatus("-H", "X-Token: " + ROUTE_TOKEN, base + "/hello.txt")[1])
                .isEqualTo("200");
        assertThat(exit.logText()).doesNotContain(ROUTE_TOKEN);
        assertThat(agent.logText()).doesNotContain(ROUTE_TOKEN);
    }

    @Test
    @Order(2)
    void xHostReachesAnotherTargetOnlyWhenTheAgentAllowsIt() {
        String url = exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/hello.txt";
        String[] allowed = bodyAndStatus("-H", "X-Host: http://localhost:" + nginxPort, url);
        assertThat(allowed[1]).isEqualTo("200");
        assertThat(allowed[0]).isEqualTo("hello through a route");
        String[] refused = bodyAndStatus("-H", "X-Host: http://127.0.0.1:" + ssePort, url);
        assertThat(refused[1]).isEqualTo("403");
        assertThat(refused[0]).contains("not allowed by this agent");
        assertThat(bodyAndStatus("-H", "X-Host: ftp://localhost:21", url)[1]).isEqualTo("400");
        agent.awaitLog("X-Host http://127.0.0.1:" + ssePort + " refused", WAIT);
    }

    /**
     * Everything the exit answers on one raw connection that sends {@code request}, until the exit closes it; fails
     * when the exit leaves it open for 20 s.
     */
    private static String answerUntilClosed(String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", exit.httpPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            // readAllBytes returns at the exit's FIN; a connection left open ends in SocketTimeoutException
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    @Test
    @Order(2)
    void aRequestWithBothContentLengthAndChunkedIsRefusedWith400AndItsConnectionClosed() throws Exception {
        // RFC 9112 6.3: a proxy in front that framed this body by its length would see a second request where the
        // exit sees none, or the reverse (request smuggling). A 400, the connection closed, nothing reaches the
        // service.
        for (String version : List.of("HTTP/1.1", "HTTP/1.0")) {
            String name = "smuggle-" + version.replace('/', '-') + ".txt";
            String answer = answerUntilClosed("PUT /up/" + name + " " + version + "\r\nHost: a\r\nX-Token: "
                    + ROUTE_TOKEN + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n0\r\n\r\n"
                    + "GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Token: " + ROUTE_TOKEN + "\r\n\r\n");
            // Vert.x answers in the request's version
            assertThat(answer).as("%s: the exit's answer", version).startsWith(version + " 400");
            assertThat(answer.split("HTTP/1\\.[01] ", -1))
                    .as("%s: one answer only, the smuggled GET is never read (%s)", version, answer)
                    .hasSize(2);
            assertThat(answer).doesNotContain("hello through a route");
            assertThat(www.resolve("up").resolve(name))
                    .as("the PUT reached the service")
                    .doesNotExist();
        }
        // the same request with its length alone goes through, on a connection that stays open for the next
        String fine = answerUntilClosed("PUT /up/framed.txt HTTP/1.1\r\nHost: a\r\nX-Token: " + ROUTE_TOKEN
                + "\r\nContent-Length: 5\r\n\r\nhello"
                + "GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Token: " + ROUTE_TOKEN + "\r\nConnection: close\r\n\r\n");
        assertThat(fine).startsWith("HTTP/1.1 201").contains("hello through a route");
        assertThat(Files.readString(www.resolve("up").resolve("framed.txt"))).isEqualTo("hello");
    }

    @Test
    @Order(3)
    void a256MibDownloadAndUploadThroughARouteKeepTheirSha256() throws Exception {
        Path big = www.resolve("big.bin");
        try (OutputStream out = Files.newOutputStream(big)) {
            dev.splitstream.e2e.harness.Payload.write(out, 4242, 256 * MIB);
        }
        String expected = sha256sum(big);
        String url = exit.httpUrl() + "/_token/" + ROUTE_TOKEN;

        long t0 = System.nanoTime();
        Exec.Result down = Exec.run(CURL, "sh", "-c", "curl -sS --noproxy '*' --fail " + url + "/big.bin | sha256sum")
                .assertSuccess();
        double downSeconds = (System.nanoTime() - t0) / 1e9;
        assertThat(down.output().trim().split("\\s+")[0]).isEqualTo(expected);

        t0 = System.nanoTime();
        String[] up = bodyAndStatus("--fail", "-T", big.toString(), url + "/up/copy.bin");
        double upSeconds = (System.nanoTime() - t0) / 1e9;
        assertThat(up[1]).isIn("201", "204");
        assertThat(sha256sum(www.resolve("up/copy.bin"))).isEqualTo(expected);

        long[] exitRss = exit.rssKb();
        long[] agentRss = agent.rssKb();
        figure(String.format(
                "route: 256 MiB down %.1f s (%.0f MiB/s), up %.1f s (%.0f MiB/s); exit RSS %d MiB (peak %d), agent RSS"
                        + " %d MiB (peak %d), both at -Xmx256m",
                downSeconds,
                256 / downSeconds,
                upSeconds,
                256 / upSeconds,
                exitRss[0] / 1024,
                exitRss[1] / 1024,
                agentRss[0] / 1024,
                agentRss[1] / 1024));
        Files.deleteIfExists(big);
        Files.deleteIfExists(www.resolve("up/copy.bin"));
    }

    private static String sha256sum(Path file) {
        return Exec.run(CURL, "sha256sum", file.toString())
                .assertSuccess()
                .output()
                .trim()
                .split("\\s+")[0];
    }

    @Test
    @Order(4)
    void serverSentEventsReachTheClientAsTheyAreSent() throws Exception {
        // The SSE service is the agent's second HTTP service: reached by its host route.
        try (Socket s = new Socket("127.0.0.1", exit.httpPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET /stream HTTP/1.1\r\nHost: events.routes.test\r\nAccept: text/event-stream\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            StringBuilder seen = new StringBuilder();
            List<Long> lags = new ArrayList<>();
            byte[] buf = new byte[4096];
            int events = 0;
            while (events < 3) {
                int n = in.read(buf);
                if (n < 0) {
                    break;
                }
                long now = System.currentTimeMillis();
                String chunk = new String(buf, 0, n, StandardCharsets.UTF_8);
                seen.append(chunk);
                java.util.regex.Matcher m =
                        java.util.regex.Pattern.compile("data: (\\d) ([0-9.]+)").matcher(chunk);
                while (m.find()) {
                    events++;
                    lags.add(now - (long) (Double.parseDouble(m.group(2)) * 1000));
                }
            }
            assertThat(seen.toString()).startsWith("HTTP/1.1 200").contains("text/event-stream");
            assertThat(events).as(seen.toString()).isEqualTo(3);
            figure("SSE through a route: event lags " + lags + " ms");
            // each event arrives as it is sent (the service waits 1 s between them), not at the end, within the issue's
            // bar of 100 ms: 18 runs on the shared 2-core machine (soaks and builds alongside) saw at most 39 ms
            assertThat(lags).allSatisfy(lag -> assertThat(lag).isLessThan(100));
        }
    }

    @Test
    @Order(5)
    void hubListsAgentsAndForwardsRequestsBehindItsBearerToken() {
        String base = exit.httpUrl();
        String[] list = bodyAndStatus("-H", "Authorization: Bearer " + HUB_TOKEN, base + "/hub/v1/agents");
        assertThat(list[1]).isEqualTo("200");
        assertThat(list[0])
                .contains("\"name\":\"web-host\"")
                .contains("\"tokenId\":\"agents\"")
                .contains("\"connected\":true")
                .contains("\"kind\":\"http\"")
                .contains("\"target\":\"http://127.0.0.1:" + nginxPort + "\"")
                .contains("\"lastSeen\"");
        String[] one = bodyAndStatus("-H", "Authorization: Bearer " + HUB_TOKEN, base + "/hub/v1/agents/web-host");
        assertThat(one[1]).isEqualTo("200");
        assertThat(one[0]).startsWith("{\"name\":\"web-host\"");

        String[] forwarded = bodyAndStatus(
                "-H", "Authorization: Bearer " + HUB_TOKEN, base + "/hub/v1/agents/web-host/services/web/hello.txt");
        assertThat(forwarded[1]).isEqualTo("200");
        assertThat(forwarded[0]).isEqualTo("hello through a route");

        assertThat(bodyAndStatus("-H", "Authorization: Bearer wrong", base + "/hub/v1/agents")[1])
                .isEqualTo("401");
        assertThat(bodyAndStatus(base + "/hub/v1/agents")[1]).isEqualTo("401");
        assertThat(bodyAndStatus("-H", "Authorization: Bearer " + HUB_TOKEN, base + "/hub/v1/agents/nobody")[1])
                .isEqualTo("404");
        assertThat(bodyAndStatus(
                        "-H",
                        "Authorization: Bearer " + HUB_TOKEN,
                        base + "/hub/v1/agents/web-host/services/nothing/x")[1])
                .isEqualTo("404");
        assertThat(exit.logText()).doesNotContain(HUB_TOKEN);
    }

    @Test
    @Order(6)
    void statsArePlainKeyValueLinesWithDetailsForLoopback() {
        String[] stats = bodyAndStatus(exit.httpUrl() + "/_stats");
        assertThat(stats[1]).isEqualTo("200");
        assertThat(stats[0])
                .contains("sessions=1\n")
                .contains("agents=1\n")
                .contains("services=4\n")
                .contains("routes=1\n")
                .contains("queued=0\n")
                .contains("agent.web-host.connected=true");
    }

    /** curl with a 30 s bound, whatever its exit code: {body, status (000 when none), exit code, elapsed ms}. */
    private static String[] bounded(String... args) {
        List<String> command = new ArrayList<>(List.of(
                Programs.require("curl").toString(),
                "-sS",
                "--noproxy",
                "*",
                "--max-time",
                "30",
                "-w",
                "\n%{http_code}"));
        command.addAll(List.of(args));
        Exec.Result r = Exec.run(CURL, command.toArray(String[]::new));
        String out = r.output();
        int nl = out.lastIndexOf('\n');
        return new String[] {
            out.substring(0, Math.max(0, nl)).strip(),
            out.substring(nl + 1).trim(),
            Integer.toString(r.exitCode()),
            Long.toString(r.elapsed().toMillis())
        };
    }

    @Test
    @Order(6)
    void aSilentServiceGets504WithinTheResponseTimeoutAndASilentPooledConnectionIsNotReused() throws Exception {
        String host = "Host: events.routes.test";
        long head = RESPONSE_TIMEOUT.toMillis();
        long read = READ_TIMEOUT.toMillis();
        // all at once, so the case takes one timeout's time, not five (own threads: the common pool has one here)
        java.util.concurrent.ExecutorService clients = java.util.concurrent.Executors.newFixedThreadPool(6);
        try {
            silentServiceCases(clients, host, head, read);
        } finally {
            clients.shutdownNow();
        }
    }

    private static void silentServiceCases(
            java.util.concurrent.ExecutorService clients, String host, long head, long read) throws Exception {
        var silentRoute = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> bounded("-H", host, exit.httpUrl() + "/silent"), clients);
        var silentHub = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> bounded(
                        "-H",
                        "Authorization: Bearer " + HUB_TOKEN,
                        exit.httpUrl() + "/hub/v1/agents/web-host/services/events/silent"),
                clients);
        var stalled = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> bounded("-H", host, exit.httpUrl() + "/stall"), clients);
        var heartbeats = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> bounded("-N", "-H", host, exit.httpUrl() + "/heartbeat"), clients);
        // a service whose accept backlog is full (SYNs dropped): 504 once the agent's connect timeout passes
        var unreachable = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> bounded("-H", "Host: stuck.routes.test", exit.httpUrl() + "/"), clients);
        // a service that reads the head of an upload, never its body: 504 once the send timeout passes
        var unread = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> bounded("-T", bigUpload().toString(), "-H", host, exit.httpUrl() + "/noread"), clients);
        // a pooled connection that answered once and then goes silent: its next request waits for the head timeout
        // (504), and the request after it gets a fresh connection that answers (service "once" has nothing else in
        // its pool)
        List<String> once = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String[] r = bounded("-H", "Host: once.routes.test", exit.httpUrl() + "/once");
            once.add(r[1] + " in " + r[3] + " ms");
            assertThat(r[1]).as("request %d to /once: %s", i, once).isIn("200", "504");
            if (r[1].equals("504")) {
                assertThat(Long.parseLong(r[3])).as(once.toString()).isBetween(head - 500, head + 20_000);
            } else {
                assertThat(r[0]).isEqualTo("once");
            }
        }
        figure("silent pooled connection: /once answered " + once);
        // every connection to "once" answers its first request only: a new one answers (200) and goes to the pool,
        // the next request takes it and gets 504, which closes it, so the one after gets a new connection again
        for (int i = 0; i < once.size(); i++) {
            assertThat(once.get(i)).as(once.toString()).startsWith(i % 2 == 0 ? "200" : "504");
        }

        String[] route = silentRoute.get(2, java.util.concurrent.TimeUnit.MINUTES);
        String[] hub = silentHub.get(2, java.util.concurrent.TimeUnit.MINUTES);
        figure("silent service: route " + route[1] + " in " + route[3] + " ms, hub " + hub[1] + " in " + hub[3]
                + " ms (response timeout " + head + " ms)");
        for (String[] r : List.of(route, hub)) {
            assertThat(r[1]).as(String.join(" | ", r)).isEqualTo("504");
            assertThat(Long.parseLong(r[3])).isBetween(head - 500, head + 20_000);
            assertThat(r[0]).contains("did not answer within");
        }
        // head and 10 of 100 bytes, then silence: cut after the read timeout (curl: partial transfer)
        String[] stall = stalled.get(2, java.util.concurrent.TimeUnit.MINUTES);
        figure("stalled body: curl exit " + stall[2] + " after " + stall[3] + " ms (read timeout " + read + " ms)");
        assertThat(stall[2]).as(String.join(" | ", stall)).isNotEqualTo("0").isNotEqualTo("28");
        assertThat(Long.parseLong(stall[3])).isBetween(read - 500, read + 20_000);
        // a server-sent event stream with an event a second outlives both timeouts
        String[] sse = heartbeats.get(2, java.util.concurrent.TimeUnit.MINUTES);
        figure("heartbeat SSE: " + sse[1] + ", curl exit " + sse[2] + " after " + sse[3] + " ms");
        assertThat(sse[2]).as(String.join(" | ", sse)).isEqualTo("0");
        assertThat(sse[1]).isEqualTo("200");
        assertThat(sse[0]).contains("data: beat 0").contains("data: beat 7");
        assertThat(Long.parseLong(sse[3])).isGreaterThan(Math.max(head, read));

        long connect = CONNECT_TIMEOUT.toMillis();
        String[] stuck = unreachable.get(2, java.util.concurrent.TimeUnit.MINUTES);
        figure("service with a full accept backlog: " + stuck[1] + " in " + stuck[3] + " ms (connect timeout " + connect
                + " ms)");
        assertThat(stuck[1]).as(String.join(" | ", stuck)).isEqualTo("504");
        // the agent's dial used to wait 10 s whatever was configured
        assertThat(Long.parseLong(stuck[3])).isBetween(connect - 500, connect + 6_000);

        long send = SEND_TIMEOUT.toMillis();
        String[] upload = unread.get(2, java.util.concurrent.TimeUnit.MINUTES);
        figure("upload to a service that never reads it: " + upload[1] + ", curl exit " + upload[2] + " after "
                + upload[3] + " ms (send timeout " + send + " ms)");
        // the 504, or (curl still sending when the connection closed after it) a send/receive error; never curl's own
        // 30 s limit (28)
        assertThat(upload[2]).as(String.join(" | ", upload)).isIn("0", "55", "56");
        if (upload[2].equals("0")) {
            assertThat(upload[1]).isEqualTo("504");
        }
        assertThat(Long.parseLong(upload[3])).isBetween(send - 500, send + 15_000);
        // that connection was reset, not pooled: the service's next request gets a fresh connection that answers
        // (a reused one would reach the handler still sleeping on the unread upload and time out with 504)
        String[] after = bounded("-H", host, exit.httpUrl() + "/after-unread");
        assertThat(after[1]).as(String.join(" | ", after)).isEqualTo("200");
    }

    /** The Prometheus text's series of {@code name} whose labels contain {@code labels}, summed. */
    private static double sum(String metrics, String name, String labels) {
        return metrics.lines()
                .filter(l -> (l.startsWith(name + "{") || l.startsWith(name + " ")) && l.contains(labels))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .sum();
    }

    /** Lines containing {@code text} in the first {@code bytes} bytes of {@code log}. */
    private static int linesBefore(Path log, long bytes, String text) throws java.io.IOException {
        byte[] all = Files.readAllBytes(log);
        String head = new String(all, 0, (int) Math.min(all.length, bytes), StandardCharsets.UTF_8);
        return (int) head.lines().filter(l -> l.contains(text)).count();
    }

    /** 64 MiB, more than every buffer on the way to a service holds. */
    private static Path bigUpload() {
        try {
            Path f = Fixtures.tempDir("routes-upload").resolve("big.bin");
            if (!Files.exists(f)) {
                try (var out = Files.newOutputStream(f)) {
                    byte[] block = new byte[1 << 20];
                    for (int i = 0; i < 64; i++) {
                        out.write(block);
                    }
                }
            }
            return f;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    @Order(7)
    void whileTheAgentIsAwayRequestsWaitAndBeyondTheQueueGet503ThenTimeOutWith504() throws Exception {
        int detached = exit.linesContaining("detached, kept").size();
        agent.kill();
        // the agent's session waits for a resume (not yet "disconnected"): requests queue from now on
        exit.awaitLogCount("detached, kept", detached + 1, WAIT);
        // The agent's next life starts now, behind a path that refuses it until the late request below is queued: its
        // JVM starts while the first requests wait out the queue timeout, and it comes back within its reconnect delay.
        CuttingRelay path = SHARED.add(new CuttingRelay(exit.httpPort()));
        path.refuseNew(true);
        Node next = SHARED.add(agent("web-host")
                .server("ws://127.0.0.1:" + path.port())
                .reconnect("100ms", "500ms")
                .start());
        String url = exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/hello.txt";
        // maxQueued 2: two wait (and time out after the queue timeout with 504), the third is refused at once with 503
        List<java.util.concurrent.CompletableFuture<String[]>> waiting = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            waiting.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> bodyAndStatus(url)));
        }
        org.awaitility.Awaitility.await("two requests queued")
                .atMost(WAIT)
                .until(() -> exit.get("/_stats").orElse("").contains("queued=2\n"));
        String[] third = bodyAndStatus(url);
        assertThat(third[1]).isEqualTo("503");
        for (var w : waiting) {
            assertThat(w.get(2, java.util.concurrent.TimeUnit.MINUTES)[1]).isEqualTo("504");
        }

        // a request made while the agent is away completes when it is back
        org.awaitility.Awaitility.await("the agent's next process is up (its path still refused)")
                .atMost(WAIT)
                .until(() -> next.managementStatus("/q/health/live") == 200);
        assertThat(exit.get("/_stats").orElse("")).as("the agent is still away").contains("queued=0\n");
        var late = java.util.concurrent.CompletableFuture.supplyAsync(() -> bodyAndStatus(url));
        org.awaitility.Awaitility.await("a request queued")
                .atMost(WAIT)
                .until(() -> exit.get("/_stats").orElse("").contains("queued=1\n"));
        path.refuseNew(false);
        agent = next;
        String[] done = late.get(2, java.util.concurrent.TimeUnit.MINUTES);
        assertThat(done[1]).isEqualTo("200");
        assertThat(done[0]).isEqualTo("hello through a route");
    }

    @Test
    @Order(8)
    void theAgentsSummaryAtExitAddsRequestsByStatusClassAndLatencyAndNoRequestLineIsLostOnSigterm() throws Exception {
        String nonce = Tunnel.newToken().substring(0, 10);
        assertThat(bodyAndStatus(exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/hello.txt?n=" + nonce)[1])
                .isEqualTo("200");
        assertThat(bodyAndStatus("-H", "X-Token: " + ROUTE_TOKEN, exit.httpUrl() + "/gone-" + nonce)[1])
                .isEqualTo("404");
        agent.awaitLog("/gone-" + nonce + " 404 ", WAIT);

        // The agent writes request lines in batches (up to 100 ms late): a burst counted by its metrics, then SIGTERM
        // at once, while the last lines still wait to be written. Every one of them is in its log after the exit.
        double before = agent.metric("splitstream_entry_route_requests_seconds_count", "status=\"4xx\"");
        double unreportedBefore = agent.metric("splitstream_entry_route_unreported_total");
        int n = 300;
        burstOf404s("last-" + nonce + "-", n);
        // (a report the exit could not send at once is counted as unreported: no line for it)
        double[] counted = new double[1];
        org.awaitility.Awaitility.await("the agent counted the burst")
                .atMost(WAIT)
                .pollInterval(Duration.ofMillis(5))
                .until(() -> {
                    String metrics = agent.metrics();
                    counted[0] = sum(metrics, "splitstream_entry_route_requests_seconds_count", "status=\"4xx\"");
                    return counted[0] + sum(metrics, "splitstream_entry_route_unreported_total", "")
                            >= before + unreportedBefore + n;
                });
        // SIGTERM at once; what the log held then is counted afterwards, from its length at that moment
        long logBytes = Files.size(agent.log());
        agent.stop();
        int reported = (int) Math.round(counted[0] - before);
        String summary = agent.awaitLog("summary: ", WAIT);
        assertThat(summary)
                .containsPattern(" requests=[0-9]+ 2xx=[0-9]+ 4xx=[0-9]+")
                .containsPattern("latency_min=[0-9.]+ms latency_avg=[0-9.]+ms latency_max=[0-9.]+ms");
        int logged = linesBefore(agent.log(), logBytes, "/last-" + nonce + "-");
        assertThat(agent.linesContaining("/last-" + nonce + "-"))
                .as("request lines in the agent's log (%d of them before SIGTERM)", logged)
                .hasSize(reported);
        assertThat(reported).isGreaterThan(n / 2);
        figure("request lines at SIGTERM: " + logged + " in the log, " + reported + " reported of " + n + "; all "
                + reported + " in the log after the exit");
    }
}
