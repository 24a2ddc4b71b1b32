package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

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
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * How route requests use connections to an agent's HTTP service, with real processes: one exit, two agents. Services:
 * a Vert.x HTTP server in this JVM (plain requests, counting its TCP connections, and a WebSocket echo), and a python
 * service that drops every connection at its second request without answering (the race of a service closing an idle
 * keep-alive connection as the next request goes out, made certain). Clients: curl and the JDK's WebSocket client.
 * A third agent runs the split path with its upstream leg through a {@link CuttingRelay}, so that leg can go away.
 */
@ExtendWith(NodeLogs.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RouteConnectionsE2E {
    private static final Duration CURL = Duration.ofSeconds(120);
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String ROUTE_TOKEN = "route-" + Tunnel.newToken().substring(0, 24);
    private static final String LOCKED_ROUTE_TOKEN =
            "locked-" + Tunnel.newToken().substring(0, 24);
    private static final String ROUTE_PASSWORD = "pw-" + Tunnel.newToken().substring(0, 20);
    private static final String SPLIT_ROUTE_TOKEN = "split-" + Tunnel.newToken().substring(0, 24);
    private static final String AGENTS = Tunnel.newToken();
    private static final String LOCKED = Tunnel.newToken();

    private static final Closer SHARED = new Closer();
    private static final AtomicInteger serviceConnections = new AtomicInteger();
    private static Vertx vertx;
    private static Node exit;
    private static Path flakyLog;
    private static CuttingRelay splitUp;
    private static Node splitAgent;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        HttpServer server = vertx.createHttpServer(new io.vertx.core.http.HttpServerOptions()
                        .setMaxWebSocketFrameSize(1 << 20)
                        .setMaxWebSocketMessageSize(1 << 20))
                .connectionHandler(c -> serviceConnections.incrementAndGet())
                .webSocketHandler(ws -> {
                    ws.textMessageHandler(ws::writeTextMessage);
                    ws.binaryMessageHandler(ws::writeBinaryMessage);
                })
                .requestHandler(req -> req.response()
                        .putHeader("Content-Type", "text/plain")
                        .end("seen authorization: " + (req.getHeader("Authorization") == null ? "none" : "some")
                                + "\n"));
        server.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        int servicePort = server.actualPort();

        int flakyPort = Ports.free();
        Path dir = Fixtures.tempDir("route-connections");
        Path flaky = dir.resolve("flaky.py");
        Fixtures.write(
                flaky,
                String.join(
                        "\n",
                        "import socket, sys, threading",
                        "n = [0]",
                        "lock = threading.Lock()",
                        "def serve(c):",
                        "    try:",
                        "        talk(c)",
                        "    except OSError:",
                        "        pass",
                        "    c.close()",
                        "def talk(c):",
                        "    f = c.makefile('rb')",
                        "    count = 0",
                        "    conn = 0",
                        "    while True:",
                        "        line = f.readline()",
                        "        if not line:",
                        "            break",
                        "        if conn == 0:",
                        "            with lock:",
                        "                n[0] += 1",
                        "                conn = n[0]",
                        "        method = line.split()[0].decode()",
                        "        length = 0",
                        "        while True:",
                        "            h = f.readline()",
                        "            if h in (b'\\r\\n', b'\\n', b''):",
                        "                break",
                        "            k, _, v = h.decode().partition(':')",
                        "            if k.strip().lower() == 'content-length':",
                        "                length = int(v)",
                        "        if length:",
                        "            f.read(length)",
                        "        count += 1",
                        "        print('connection %d request %d %s' % (conn, count, method), flush=True)",
                        "        if count == 2:",
                        "            break",
                        "        body = ('%s on connection %d request %d\\n' % (method, conn, count)).encode()",
                        "        c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: '",
                        "                  + str(len(body)).encode() + b'\\r\\n\\r\\n' + body)",
                        "s = socket.socket()",
                        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
                        "s.bind(('127.0.0.1', int(sys.argv[1])))",
                        "s.listen(16)",
                        "while True:",
                        "    c, _ = s.accept()",
                        "    threading.Thread(target=serve, args=(c,), daemon=True).start()",
                        ""));
        flakyLog = NodeLogs.file("flaky");
        Daemon python = SHARED.add(Daemon.start(
                "flaky",
                flakyLog,
                Map.of(),
                List.of(Programs.require("python3").toString(), "-u", flaky.toString(), Integer.toString(flakyPort))));
        Fixtures.awaitPort(python, new InetSocketAddress("127.0.0.1", flakyPort), WAIT);

        Path tokens = Fixtures.tempDir("route-connections-tokens").resolve("tokens.yaml");
        Files.writeString(
                tokens,
                String.join(
                        "\n",
                        "tokens:",
                        "  - id: agents",
                        "    secret: \"" + AGENTS + "\"",
                        "    expose: {}",
                        "  - id: locked",
                        "    secret: \"" + LOCKED + "\"",
                        "    expose: {routePassword: \"" + ROUTE_PASSWORD + "\"}",
                        ""));
        exit = SHARED.add(NodeSpec.exit("exit-route-connections")
                        .set("splitstream.exit.tokens-file", tokens.toString())
                        .set("splitstream.exit.http-domain", "routes.test")
                        // long enough that a connection is still idle when the next step of a test comes
                        .set("splitstream.exit.route-pool.idle-timeout", "120s")
                        // a request for an agent that is away gets its 504 within a test's patience
                        .set("splitstream.exit.queue-timeout", "4s")
                        .start())
                .awaitReady();
        Node agent = SHARED.add(NodeSpec.entry("open-agent")
                .token(AGENTS)
                .set("splitstream.token-id", "agents")
                .set("splitstream.entry.agent", "open-agent")
                .set(
                        "splitstream.entry.expose",
                        "plain=http://127.0.0.1:" + servicePort + ",flaky=http://127.0.0.1:" + flakyPort)
                .set("splitstream.entry.route-token", ROUTE_TOKEN)
                .server(exit.wsUrl())
                .start());
        Node locked = SHARED.add(NodeSpec.entry("locked-agent")
                .token(LOCKED)
                .set("splitstream.token-id", "locked")
                .set("splitstream.entry.agent", "locked-agent")
                .set("splitstream.entry.expose", "guarded=http://127.0.0.1:" + servicePort)
                .set("splitstream.entry.route-token", LOCKED_ROUTE_TOKEN)
                .server(exit.wsUrl())
                .start());
        splitUp = SHARED.add(new CuttingRelay(exit.httpPort()));
        splitAgent = SHARED.add(NodeSpec.entry("split-agent")
                .token(AGENTS)
                .set("splitstream.token-id", "agents")
                .set("splitstream.entry.agent", "split-agent")
                .set("splitstream.entry.expose", "halves=http://127.0.0.1:" + servicePort)
                .set("splitstream.entry.route-token", SPLIT_ROUTE_TOKEN)
                .set("splitstream.entry.upstream", "ws://127.0.0.1:" + splitUp.port())
                .set("splitstream.entry.downstream", exit.wsUrl())
                .reconnect("100ms", "500ms")
                .start());
        agent.awaitLog("exposing flaky", WAIT);
        splitAgent.awaitLog("exposing halves", WAIT);
        locked.awaitLog("exposing guarded", WAIT);
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            SHARED.close();
        } finally {
            if (vertx != null) {
                vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static Exec.Result curl(String... args) {
        List<String> command = new ArrayList<>();
        command.add(Programs.require("curl").toString());
        command.add("-sS");
        command.add("--noproxy");
        command.add("*");
        command.add("--max-time");
        command.add("60");
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

    private static String flakyUrl(String path) {
        return "http://flaky.routes.test:" + exit.httpPort() + path;
    }

    private static String resolveFlaky() {
        return "flaky.routes.test:" + exit.httpPort() + ":127.0.0.1";
    }

    @Test
    @Order(1)
    void sequentialRequestsShareOneConnectionToTheService() {
        int before = serviceConnections.get();
        double reusedBefore = exit.metric("splitstream_exit_route_pool_streams_total", "kind=\"reused\"");
        for (int i = 0; i < 20; i++) {
            String[] got = bodyAndStatus("-H", "X-Token: " + ROUTE_TOKEN, exit.httpUrl() + "/n" + i);
            assertThat(got[1]).isEqualTo("200");
            assertThat(got[0]).isEqualTo("seen authorization: none");
        }
        // 20 requests from 20 curl processes: one stream, one TCP connection from the agent to the service
        assertThat(serviceConnections.get() - before).isEqualTo(1);
        assertThat(exit.metric("splitstream_exit_route_pool_streams_total", "kind=\"reused\"") - reusedBefore)
                .isEqualTo(19);
        assertThat(exit.metric("splitstream_exit_route_pool_idle")).isGreaterThanOrEqualTo(1);
    }

    @Test
    @Order(2)
    void aReusedConnectionThatDiesUnansweredIsRetriedForGetButNeverForPost() throws Exception {
        double retriesBefore = exit.metric("splitstream_exit_route_retries_total");
        String[] first = bodyAndStatus("--resolve", resolveFlaky(), flakyUrl("/first"));
        assertThat(first[1]).isEqualTo("200");
        assertThat(first[0]).isEqualTo("GET on connection 1 request 1");

        // the pooled connection is dropped by the service at this request: sent again on a new stream
        String[] second = bodyAndStatus("--resolve", resolveFlaky(), flakyUrl("/second"));
        assertThat(second[1]).isEqualTo("200");
        assertThat(second[0]).isEqualTo("GET on connection 2 request 1");
        assertThat(exit.metric("splitstream_exit_route_retries_total") - retriesBefore)
                .isEqualTo(1);

        // connection 2 is pooled now; a POST on it meets the same end and is not sent again
        String[] post = bodyAndStatus("--resolve", resolveFlaky(), "--data-binary", "once", flakyUrl("/post"));
        assertThat(post[1]).isEqualTo("502");
        assertThat(post[0]).contains("not retried").contains("POST is not idempotent");
        assertThat(exit.metric("splitstream_exit_route_retries_total") - retriesBefore)
                .isEqualTo(1);
        List<String> seen = Files.readAllLines(flakyLog);
        assertThat(seen.stream().filter(l -> l.endsWith(" POST")).count())
                .as(seen.toString())
                .isEqualTo(1);
        assertThat(seen)
                .contains(
                        "connection 1 request 1 GET",
                        "connection 1 request 2 GET",
                        "connection 2 request 1 GET",
                        "connection 2 request 2 POST");

        // and the route still works afterwards
        String[] after = bodyAndStatus("--resolve", resolveFlaky(), flakyUrl("/after"));
        assertThat(after[1]).isEqualTo("200");
        assertThat(after[0]).isEqualTo("GET on connection 3 request 1");
    }

    @Test
    @Order(3)
    void aWebSocketEchoesBothWaysThroughARouteAndClosesCleanly() throws Exception {
        LinkedBlockingQueue<String> received = new LinkedBlockingQueue<>();
        CompletableFuture<Integer> closed = new CompletableFuture<>();
        WebSocket.Listener listener = new WebSocket.Listener() {
            private final StringBuilder text = new StringBuilder();
            private final java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();

            @Override
            public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                text.append(data);
                if (last) {
                    received.add("text:" + text);
                    text.setLength(0);
                }
                ws.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
                byte[] b = new byte[data.remaining()];
                data.get(b);
                binary.writeBytes(b);
                if (last) {
                    received.add("binary:" + java.util.HexFormat.of().formatHex(binary.toByteArray()));
                    binary.reset();
                }
                ws.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
                closed.complete(statusCode);
                return null;
            }

            @Override
            public void onError(WebSocket ws, Throwable error) {
                closed.completeExceptionally(error);
            }
        };
        HttpClient client = HttpClient.newBuilder()
                .proxy(HttpClient.Builder.NO_PROXY)
                .connectTimeout(Duration.ofSeconds(30))
                .build();
        URI uri = URI.create("ws://127.0.0.1:" + exit.httpPort() + "/_token/" + ROUTE_TOKEN + "/echo");
        WebSocket ws = client.newWebSocketBuilder()
                .connectTimeout(Duration.ofSeconds(30))
                .buildAsync(uri, listener)
                .get(60, TimeUnit.SECONDS); // the 101 came back through the exit and the agent
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            String message = "hello " + i + " " + "x".repeat(i * 1000);
            ws.sendText(message, true).get(30, TimeUnit.SECONDS);
            expected.add("text:" + message);
        }
        byte[] bytes = new byte[300_000]; // spans many DATA frames of the tunnel and many reads
        new java.util.Random(7).nextBytes(bytes);
        ws.sendBinary(ByteBuffer.wrap(bytes), true).get(30, TimeUnit.SECONDS);
        expected.add("binary:" + java.util.HexFormat.of().formatHex(bytes));
        List<String> got = new ArrayList<>();
        for (int i = 0; i < expected.size(); i++) {
            String m = received.poll(60, TimeUnit.SECONDS);
            assertThat(m).as("echo " + i).isNotNull();
            got.add(m);
        }
        assertThat(got).isEqualTo(expected);

        ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(30, TimeUnit.SECONDS);
        assertThat(closed.get(60, TimeUnit.SECONDS)).isEqualTo(WebSocket.NORMAL_CLOSURE);
        // the upgraded request is over: it is logged with status 101
        org.awaitility.Awaitility.await("the upgraded request ends")
                .atMost(WAIT)
                .until(() -> exit.metric("splitstream_exit_route_active") == 0);
    }

    @Test
    @Order(4)
    void aTokensRoutePasswordIsAskedForWithBasicAndNeverReachesTheServiceOrTheLogs() {
        String url = exit.httpUrl() + "/_token/" + LOCKED_ROUTE_TOKEN + "/x";
        String missing = curl("-D", "-", url).assertSuccess().output();
        assertThat(missing)
                .startsWith("HTTP/1.1 401")
                .containsIgnoringCase("WWW-Authenticate: Basic realm=\"splitstream route\"");
        assertThat(bodyAndStatus("-u", "user:wrong-" + ROUTE_PASSWORD, url)[1]).isEqualTo("401");
        assertThat(bodyAndStatus("-H", "Authorization: Basic !!!", url)[1]).isEqualTo("401");
        assertThat(bodyAndStatus("-H", "Authorization: Bearer " + ROUTE_PASSWORD, url)[1])
                .isEqualTo("401");

        String[] ok = bodyAndStatus("-u", "anyone:" + ROUTE_PASSWORD, url);
        assertThat(ok[1]).isEqualTo("200");
        // the route's own credentials are taken off before the request goes on
        assertThat(ok[0]).isEqualTo("seen authorization: none");
        String[] byHeader = bodyAndStatus(
                "-H",
                "X-Token: " + LOCKED_ROUTE_TOKEN,
                "-H",
                "Authorization: Basic "
                        + Base64.getEncoder().encodeToString((":" + ROUTE_PASSWORD).getBytes(StandardCharsets.UTF_8)),
                exit.httpUrl() + "/y");
        assertThat(byHeader[1]).isEqualTo("200");

        // the other token's routes need no password, and the Authorization a client sends them reaches the service
        String[] open = bodyAndStatus("-u", "a:b", "-H", "X-Token: " + ROUTE_TOKEN, exit.httpUrl() + "/z");
        assertThat(open[1]).isEqualTo("200");
        assertThat(open[0]).isEqualTo("seen authorization: some");

        assertThat(exit.logText()).doesNotContain(ROUTE_PASSWORD);
        assertThat(exit.metrics()).doesNotContain(ROUTE_PASSWORD);
    }

    @Test
    @Order(5)
    void anIdempotentRequestWhoseBodyWentOutIsNeverSentAgain() throws Exception {
        // a fresh connection to the flaky service (request 1 answered), kept in the pool (this GET may itself be a
        // pooled connection's second request, and be sent again on a new stream)
        String[] warm = bodyAndStatus("--resolve", resolveFlaky(), flakyUrl("/warm"));
        assertThat(warm[1]).isEqualTo("200");
        double retriesBefore = exit.metric("splitstream_exit_route_retries_total");
        String connection = warm[0].replaceAll(".*on connection (\\d+) request 1$", "$1");

        // request 2 on it is a PUT with a body: the service reads the body, then drops the connection unanswered. PUT
        // is idempotent, but its body was streamed already: a 502, never a second copy of the body
        String[] put =
                bodyAndStatus("--resolve", resolveFlaky(), "-X", "PUT", "--data-binary", "body-once", flakyUrl("/put"));
        assertThat(put[1]).isEqualTo("502");
        assertThat(put[0]).contains("not retried").contains("its body was already under way");
        assertThat(exit.metric("splitstream_exit_route_retries_total") - retriesBefore)
                .isEqualTo(0);
        List<String> seen = Files.readAllLines(flakyLog);
        assertThat(seen.stream().filter(l -> l.endsWith(" PUT")).count())
                .as(seen.toString())
                .isEqualTo(1);
        assertThat(seen).contains("connection " + connection + " request 2 PUT");

        // the same PUT without a body is sent again on a new stream when its pooled connection dies the same way
        String[] warmAgain = bodyAndStatus("--resolve", resolveFlaky(), flakyUrl("/warm-again"));
        assertThat(warmAgain[1]).isEqualTo("200");
        String[] emptyPut = bodyAndStatus("--resolve", resolveFlaky(), "-X", "PUT", flakyUrl("/empty-put"));
        assertThat(emptyPut[1]).isEqualTo("200");
        assertThat(emptyPut[0]).matches("PUT on connection \\d+ request 1");
        assertThat(exit.metric("splitstream_exit_route_retries_total") - retriesBefore)
                .isEqualTo(1);
    }

    @Test
    @Order(6)
    void aSplitSessionWithoutItsUpstreamLegNeverGetsAPooledRequest() {
        String url = exit.httpUrl() + "/halves";
        String[] first = bodyAndStatus("-H", "X-Token: " + SPLIT_ROUTE_TOKEN, url);
        assertThat(first[1]).isEqualTo("200");
        String[] pooled = bodyAndStatus("-H", "X-Token: " + SPLIT_ROUTE_TOKEN, url);
        assertThat(pooled[1]).isEqualTo("200");
        double reusedBefore = exit.metric("splitstream_exit_route_pool_streams_total", "kind=\"reused\"");

        // the upstream leg goes away and stays away: the session keeps its downstream leg (the agent would get a
        // request) but hears nothing back
        splitUp.refuseNew(true);
        try {
            assertThat(splitUp.cut()).isPositive();
            exit.awaitLog("lost a leg", WAIT);
            long t0 = System.nanoTime();
            String[] away = bodyAndStatus("-H", "X-Token: " + SPLIT_ROUTE_TOKEN, url);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            // not sent on the pooled stream (where it would wait for the leg without bound): it waited in the agent's
            // queue for the queue timeout (4 s) and got its 504
            assertThat(away[1]).as(away[0]).isEqualTo("504");
            assertThat(took).isLessThan(Duration.ofSeconds(40));
            assertThat(exit.metric("splitstream_exit_route_pool_streams_total", "kind=\"reused\"") - reusedBefore)
                    .isEqualTo(1);
        } finally {
            splitUp.refuseNew(false);
        }
        // the leg comes back: requests go through again
        org.awaitility.Awaitility.await()
                .atMost(WAIT)
                .until(() -> bodyAndStatus("-H", "X-Token: " + SPLIT_ROUTE_TOKEN, url)[1].equals("200"));
    }
}
