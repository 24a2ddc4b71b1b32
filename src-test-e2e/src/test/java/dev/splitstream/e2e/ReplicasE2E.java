package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.fixture.HttpFixture;
import dev.splitstream.e2e.fixture.NginxFixture;
import dev.splitstream.e2e.fixture.PostgresFixture;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.HalfCloseService;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Payload;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Three exit replicas sharing a real PostgreSQL registry, behind the shipped nginx config with its upstream turned into
 * the three replicas, round-robin and without any affinity: every new connection or request may reach another replica,
 * which relays it to the replica owning the session.
 */
@ExtendWith(NodeLogs.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReplicasE2E {
    private static final long MIB = 1024 * 1024;
    /**
     * Each way over WebSocket and the split path: 256 MiB, as issue 9 asks ({@code -Dsplitstream.e2e.replicas.mib}
     * changes it).
     */
    private static final long TRANSFER = Long.getLong("splitstream.e2e.replicas.mib", 256) * MIB;
    /** Each way over plain HTTP: 256 MiB ({@code -Dsplitstream.e2e.replicas.http-mib}). */
    private static final long HTTP_TRANSFER = Long.getLong("splitstream.e2e.replicas.http-mib", 256) * MIB;
    /** Time allowed for one transfer of {@code bytes} each way: 4 minutes per 64 MiB. */
    private static Duration allowed(long bytes) {
        return Duration.ofMinutes(4 * Math.max(1, (bytes + 64 * MIB - 1) / (64 * MIB)));
    }

    private static final String SECRET = "e2e-cluster-secret-0123456789";
    private static final Closer shared = new Closer();
    private static PostgresFixture postgres;
    private static TargetServer target;
    private static NginxFixture nginx;
    private static final List<Node> exits = new ArrayList<>();
    /**
     * A fourth replica, outside nginx's round-robin, whose database writes of opened sessions take 2 s (the test-only
     * {@code registry-test-write-delay}): its sessions' rows land after the old fixed 1.5 s look-up retry.
     */
    private static Node slowWriter;

    private static String token;
    /** Public ports of the replicas: {@value #PORTS} from lowPort, free on each replica's loopback address. */
    private static final int PORTS = 10;

    private static int lowPort;
    private static HttpFixture web;
    /** A WebSocket echo server, the agent's second HTTP service (echo). */
    private static int echoPort;
    /** An upgraded service that reads to its input's end before it answers (half), the agent's third. */
    private static HalfCloseService half;
    /** How long an upgraded route connection may stay half-closed on the replicas. */
    private static final Duration HALF_CLOSED = Duration.ofSeconds(4);
    /** The agent exposing a TCP service (the target server) and an HTTP one (web), shared by the expose cases. */
    private static Node agent;

    private static int agentPort;
    private static final String ROUTE_TOKEN = "route-" + Tunnel.newToken().substring(0, 24);
    /** Host routes on the replicas: {@code web.<this>} reaches the agent's HTTP service named web. */
    private static final String HTTP_DOMAIN = "replicas.test";

    /** A client's own loopback address (the replicas' public hosts are 127.0.0.2-4). */
    private static final String CLIENT_ADDRESS = "127.0.0.9";

    private static final String HUB_TOKEN = "hub-" + Tunnel.newToken().substring(0, 24);
    private static final Pattern EXPOSING = Pattern.compile("exposing tcp \\S+ at tcp://\\S+:(\\d+)");

    @BeforeAll
    static void startReplicas() throws Exception {
        try {
            postgres = shared.add(PostgresFixture.start());
            target = shared.add(new TargetServer());
            web = shared.add(new HttpFixture());
            echoPort = startWebSocketEcho();
            half = shared.add(new HalfCloseService());
            token = Tunnel.newToken();
            lowPort = freeRange(PORTS);
            List<NodeSpec> specs = new ArrayList<>();
            StringBuilder upstream = new StringBuilder();
            NodeSpec slowSpec = null;
            for (int i = 1; i <= 4; i++) {
                NodeSpec spec = NodeSpec.exit("exit-r" + i)
                        .token(token)
                        .allow("127.0.0.1:" + target.port())
                        .set("splitstream.exit.registry", "postgres")
                        .set("quarkus.datasource.jdbc.url", postgres.jdbcUrl())
                        .set("quarkus.datasource.username", "postgres")
                        .set("quarkus.datasource.password", "unused-trust-auth")
                        .set("splitstream.exit.replica-id", "r" + i)
                        .set("splitstream.exit.heartbeat-interval", "500ms")
                        .set("splitstream.exit.replica-offline-after", "3s")
                        // expose: each replica binds the public ports on its own loopback address, as pods have
                        // their own IPs
                        .set("splitstream.exit.public-ports", lowPort + "-" + (lowPort + PORTS - 1))
                        .set("splitstream.exit.public-host", publicHost(i))
                        .set("splitstream.exit.lease", "10m")
                        .set("splitstream.exit.queue-timeout", "60s")
                        .set("splitstream.exit.http-domain", HTTP_DOMAIN)
                        .set("splitstream.exit.hub-token", HUB_TOKEN)
                        .set("splitstream.exit.upgrade-half-close-timeout", HALF_CLOSED.toSeconds() + "s")
                        .set("quarkus.log.category.\"dev.splitstream.exit.relay.ExposeRelay\".level", "DEBUG")
                        .env("SPLITSTREAM_EXIT_CLUSTER_SECRET", SECRET);
                spec.set("splitstream.exit.replica-url", "http://127.0.0.1:" + spec.httpPort());
                if (i == 4) {
                    slowSpec = spec.set("splitstream.exit.registry-test-write-delay", "2s")
                            // the writer thread heart-beats too, between its 2 s writes; the pulse thread keeps the
                            // heartbeat fresh during them
                            .set("splitstream.exit.heartbeat-interval", "200ms");
                    continue;
                }
                // r1-r3 carry the three 256 MiB transfers (r4 only writes late)
                spec.bulkJvmFlags();
                upstream.append("server 127.0.0.1:").append(spec.httpPort()).append("; ");
                specs.add(spec);
            }
            for (NodeSpec spec : specs) {
                exits.add(shared.add(spec.start()));
            }
            slowWriter = shared.add(slowSpec.start());
            for (Node exit : exits) {
                exit.awaitReady(Duration.ofSeconds(120));
            }
            slowWriter.awaitReady(Duration.ofSeconds(120));
            nginx = shared.add(NginxFixture.start(0, Map.of("server 127.0.0.1:8080;", upstream.toString())));
            await("every replica sees the three").atMost(Duration.ofSeconds(30)).until(() -> exits.stream()
                    .allMatch(e -> e.logText().contains("live replicas [")
                            && e.linesContaining("live replicas").stream()
                                    .anyMatch(l -> l.contains("r1") && l.contains("r2") && l.contains("r3"))));
        } catch (RuntimeException | Error e) {
            shared.close();
            throw e;
        }
    }

    @AfterAll
    static void stopReplicas() {
        shared.close();
    }

    private static Node entry(String name, Consumer<NodeSpec> setup) {
        NodeSpec spec = NodeSpec.entry(name).token(token).reconnect("100ms", "1s");
        setup.accept(spec);
        Node entry = spec.start();
        entry.awaitReady();
        entry.awaitLog("session established", Duration.ofSeconds(60));
        return entry;
    }

    private static double relayed(String transport) {
        return exits.stream()
                .filter(Node::isAlive)
                .mapToDouble(e -> e.metric("splitstream_exit_relayed_total", "transport=\"" + transport + "\""))
                .sum();
    }

    private static long auditCount(String where) {
        return Long.parseLong(postgres.psql("SELECT count(*) FROM audit_log WHERE " + where));
    }

    /** Waits for {@code min} audit rows matching {@code where}; on failure shows the newest relay rows. */
    private static void awaitAudit(String what, String where, long min) {
        try {
            await(what + " in the audit log").atMost(Duration.ofSeconds(30)).until(() -> auditCount(where) >= min);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError(
                    what + ": fewer than " + min + " audit rows where " + where + "; newest relay rows:\n"
                            + postgres.psql("SELECT at, kind, transport, target, outcome, bytes_up, bytes_down, detail"
                                    + " FROM audit_log WHERE kind = 'relay' ORDER BY id DESC LIMIT 12"),
                    e);
        }
    }

    /** A Vert.x WebSocket echo server on loopback, closed with the shared resources; returns its port. */
    private static int startWebSocketEcho() throws Exception {
        io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
        shared.add(() -> vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS));
        io.vertx.core.http.HttpServer server = vertx.createHttpServer()
                .webSocketHandler(ws -> ws.textMessageHandler(ws::writeTextMessage))
                .requestHandler(req -> req.response().setStatusCode(404).end());
        return server.listen(0, "127.0.0.1")
                .toCompletionStage()
                .toCompletableFuture()
                .get(30, TimeUnit.SECONDS)
                .actualPort();
    }

    /** Sends one text message over a WebSocket to {@code uri} (with the Hub's bearer token) and returns the echo. */
    private static String echoThroughWebSocket(java.net.URI uri, String message) throws Exception {
        java.util.concurrent.CompletableFuture<String> echoed = new java.util.concurrent.CompletableFuture<>();
        java.net.http.WebSocket.Listener listener = new java.net.http.WebSocket.Listener() {
            private final StringBuilder text = new StringBuilder();

            @Override
            public java.util.concurrent.CompletionStage<?> onText(
                    java.net.http.WebSocket ws, CharSequence data, boolean last) {
                text.append(data);
                if (last) {
                    echoed.complete(text.toString());
                }
                ws.request(1);
                return null;
            }

            @Override
            public void onError(java.net.http.WebSocket ws, Throwable error) {
                echoed.completeExceptionally(error);
            }
        };
        java.net.http.HttpClient client = java.net.http.HttpClient.newBuilder()
                .proxy(java.net.http.HttpClient.Builder.NO_PROXY)
                .connectTimeout(Duration.ofSeconds(30))
                .build();
        java.net.http.WebSocket ws = client.newWebSocketBuilder()
                .header("Authorization", "Bearer " + HUB_TOKEN)
                .connectTimeout(Duration.ofSeconds(30))
                .buildAsync(uri, listener)
                .get(60, TimeUnit.SECONDS);
        try {
            ws.sendText(message, true).get(30, TimeUnit.SECONDS);
            return echoed.get(60, TimeUnit.SECONDS);
        } finally {
            ws.abort();
        }
    }

    /** Replica {@code i}'s (from 1) own loopback address for public ports. */
    private static String publicHost(int i) {
        return "127.0.0." + (i + 1);
    }

    private static String publicHost(Node exit) {
        return publicHost(Integer.parseInt(exit.name().substring("exit-r".length())));
    }

    /** The first of {@code n} consecutive ports free on the three replicas' addresses, below the ephemeral range. */
    private static int freeRange(int n) throws IOException {
        for (int attempt = 0; attempt < 200; attempt++) {
            int base = ThreadLocalRandom.current().nextInt(20000, 30000 - n);
            List<ServerSocket> held = new ArrayList<>();
            try {
                for (int i = 1; i <= 4; i++) {
                    for (int p = base; p < base + n; p++) {
                        ServerSocket socket = new ServerSocket();
                        held.add(socket);
                        socket.bind(new InetSocketAddress(publicHost(i), p));
                    }
                }
                return base;
            } catch (IOException taken) {
                // another block
            } finally {
                for (ServerSocket socket : held) {
                    socket.close();
                }
            }
        }
        throw new IOException("no " + n + " consecutive free ports");
    }

    /** Uploads and downloads {@code bytes} through {@code host:port}, each checked by SHA-256 at both ends. */
    private static void transferVia(String host, int port, long bytes, long seed) throws IOException {
        try (Socket up = open(host, port)) {
            byte[][] d = TargetServer.upload(up, seed, bytes, new AtomicLong());
            assertThat(Payload.hex(d[1])).as("upload via %s:%d", host, port).isEqualTo(Payload.hex(d[0]));
        }
        try (Socket down = open(host, port)) {
            byte[][] d = TargetServer.download(down, seed + 1, bytes, new AtomicLong());
            assertThat(Payload.hex(d[0])).as("download via %s:%d", host, port).isEqualTo(Payload.hex(d[1]));
        }
    }

    private static Socket open(String host, int port) throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(host, port), 10_000);
        socket.setSoTimeout(90_000);
        return socket;
    }

    /**
     * {@code [status, body]} of a GET with curl, with {@code headers} ("Name: value") added; an option with its value
     * ({@code "--interface", address}, {@code "-X", "DELETE"}) is passed on as it is.
     */
    private static String[] curl(String url, String... headers) {
        List<String> command = new ArrayList<>(List.of(
                Programs.require("curl").toString(), "-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"));
        for (int i = 0; i < headers.length; i++) {
            if (headers[i].startsWith("-")) {
                command.add(headers[i]);
                command.add(headers[++i]);
            } else {
                command.add("-H");
                command.add(headers[i]);
            }
        }
        command.add(url);
        Exec.Result r =
                Exec.run(Duration.ofSeconds(90), command.toArray(String[]::new)).assertSuccess();
        String out = r.output();
        int nl = out.lastIndexOf('\n');
        return new String[] {out.substring(nl + 1).trim(), out.substring(0, Math.max(0, nl))};
    }

    /** Whether {@code exit}'s readiness (answering 200) says its registry is degraded; empty when it is not ready. */
    private static Optional<Boolean> degraded(Node exit) {
        return exit.managementGet("/q/health/ready").map(body -> {
            String compact = body.replaceAll("\\s", "");
            assertThat(compact).contains("\"status\":\"UP\"");
            return compact.contains("\"degraded\":true");
        });
    }

    private static String agentOwner() {
        return postgres.psql("SELECT coalesce(owner_replica, '') || CASE WHEN disconnected_at IS NULL THEN '' ELSE"
                + " '-away' END FROM agents WHERE name = 'agent-r' AND deleted_at IS NULL");
    }

    private static double exposeRelayed(String kind) {
        return exits.stream()
                .filter(Node::isAlive)
                .mapToDouble(e -> e.metric("splitstream_exit_expose_relayed_total", "kind=\"" + kind + "\""))
                .sum();
    }

    /** Waits until the agent's port accepts connections on {@code exit}'s address (it imported the lease). */
    private static void awaitBound(Node exit, int port) {
        await(exit.name() + " serves port " + port)
                .atMost(Duration.ofSeconds(30))
                .until(() -> {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(publicHost(exit), port), 2_000);
                        return true;
                    } catch (IOException e) {
                        return false;
                    }
                });
    }

    @Test
    @Order(1)
    void webSocketTransferStaysIntactWhileEachResumeLandsOnAnotherReplica() throws Exception {
        int forward = Ports.free();
        double relayedBefore = relayed("websocket");
        try (CuttingRelay cutter = new CuttingRelay(nginx.port());
                Node entry = entry("entry-ws", e -> e.bulkJvmFlags()
                        .server("ws://127.0.0.1:" + cutter.port())
                        .set("splitstream.entry.transport", "websocket")
                        .forward(forward, "127.0.0.1", target.port()))) {
            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, TRANSFER, 7, allowed(TRANSFER));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long start = cutter.relayed();
            for (int cut = 1; cut <= 2; cut++) {
                long threshold = start + cut * 2 * TRANSFER / 3;
                await("cutter carried " + threshold / MIB + " MiB")
                        .atMost(allowed(TRANSFER))
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> cutter.relayed() >= threshold || transfer.isDone());
                assertThat(transfer).as("transfer still running at cut %d", cut).isNotDone();
                long cutAt = System.nanoTime();
                assertThat(cutter.cut()).isGreaterThanOrEqualTo(1);
                entry.awaitLogCount("session resumed", cut, Duration.ofSeconds(60));
                figure(String.format(
                        "replicas, cut %d: resumed through another replica after %d ms",
                        cut, (System.nanoTime() - cutAt) / 1_000_000));
            }
            Duration elapsed = transfer.get(allowed(TRANSFER).toMinutes(), TimeUnit.MINUTES);
            figure(String.format(
                    "replicas: %d MiB each way over WebSocket with two cuts, resumes relayed to the owner, SHA-256"
                            + " equal: %.1f s, %.1f MiB/s each way",
                    TRANSFER / MIB, elapsed.toMillis() / 1000.0, TRANSFER / MIB / (elapsed.toMillis() / 1000.0)));
            assertThat(entry.linesContaining("session established")).hasSize(1);
            // nginx round-robins: after each cut the leg reaches a replica that does not own the session
            assertThat(relayed("websocket") - relayedBefore).isGreaterThanOrEqualTo(2);
        }
        await("the relayed legs are in the audit log")
                .atMost(Duration.ofSeconds(30))
                .until(() -> auditCount("kind = 'relay' AND outcome = 'relayed' AND transport = 'websocket'") >= 2);
        await("the session's end is in the audit log with its bytes")
                .atMost(Duration.ofSeconds(30))
                .until(() ->
                        auditCount("kind = 'session' AND bytes_up >= " + TRANSFER + " AND bytes_down >= " + TRANSFER)
                                >= 1);
        assertThat(auditCount("kind = 'dial' AND outcome = 'connected' AND target = '127.0.0.1:" + target.port() + "'"))
                .isGreaterThanOrEqualTo(2);
    }

    @Test
    @Order(2)
    void splitPathWithItsLegsOnDifferentReplicas() throws Exception {
        int forward = Ports.free();
        double relayedBefore = relayed("websocket");
        String whole = "kind = 'session' AND bytes_up >= " + TRANSFER + " AND bytes_down >= " + TRANSFER;
        long sessionsBefore = auditCount(whole);
        try (Node entry = entry("entry-split", e -> e.bulkJvmFlags()
                .set("splitstream.entry.upstream", nginx.wsUrl())
                .set("splitstream.entry.downstream", nginx.wsUrl())
                .set("splitstream.entry.transport", "websocket")
                .forward(forward, "127.0.0.1", target.port()))) {
            Duration elapsed = Transfers.uploadAndDownload(forward, TRANSFER, 8, allowed(TRANSFER));
            figure(String.format(
                    "replicas: %d MiB each way over a split path, downstream leg relayed to the owner, SHA-256 equal:"
                            + " %.1f s, %.1f MiB/s each way",
                    TRANSFER / MIB, elapsed.toMillis() / 1000.0, TRANSFER / MIB / (elapsed.toMillis() / 1000.0)));
            assertThat(relayed("websocket") - relayedBefore)
                    .as("the JOIN_DOWNSTREAM leg reached another replica and was relayed")
                    .isGreaterThanOrEqualTo(1);
            assertThat(entry.linesContaining("session established")).hasSize(1);
        }
        awaitAudit(
                "the relayed downstream leg",
                "kind = 'relay' AND transport = 'websocket' AND outcome = 'relayed' AND detail LIKE 'JOIN_DOWNSTREAM%'",
                1);
        awaitAudit("the split session's end with its bytes", whole, sessionsBefore + 1);
    }

    @Test
    @Order(3)
    void plainHttpWithConsecutiveRequestsOnDifferentReplicas() throws Exception {
        int forward = Ports.free();
        double relayedBefore = relayed("http");
        long bytes = HTTP_TRANSFER;
        try (Node entry = entry("entry-http", e -> e.bulkJvmFlags()
                .server("http://127.0.0.1:" + nginx.port())
                .set("splitstream.entry.transport", "http")
                .forward(forward, "127.0.0.1", target.port()))) {
            Duration elapsed = Transfers.uploadAndDownload(forward, bytes, 9, allowed(bytes));
            double relayedRequests = relayed("http") - relayedBefore;
            figure(String.format(
                    "replicas: %d MiB each way over plain HTTP, %d requests relayed to the owner, SHA-256 equal: %.1f s,"
                            + " %.1f MiB/s each way",
                    bytes / MIB,
                    (long) relayedRequests,
                    elapsed.toMillis() / 1000.0,
                    bytes / MIB / (elapsed.toMillis() / 1000.0)));
            assertThat(relayedRequests)
                    .as("POSTs and GETs that nginx sent to non-owners")
                    .isGreaterThanOrEqualTo(10);
            assertThat(entry.linesContaining("session established")).hasSize(1);
        }
        awaitAudit(
                "the plain-HTTP session's end with its bytes",
                "kind = 'session' AND transport LIKE 'http%' AND bytes_up >= " + bytes + " AND bytes_down >= " + bytes,
                1);
    }

    @Test
    @Order(4)
    void anAgentsPublicPortAndRouteAreServedByEveryReplica() throws Exception {
        agent = shared.add(entry("agent-r", e -> e.server(nginx.wsUrl())
                .set("splitstream.entry.transport", "websocket")
                .set("splitstream.entry.agent", "agent-r")
                .set("splitstream.entry.route-token", ROUTE_TOKEN)
                .set(
                        "splitstream.entry.expose",
                        "tcp=127.0.0.1:" + target.port() + ",web=http://127.0.0.1:" + web.port()
                                + ",echo=http://127.0.0.1:" + echoPort + ",half=http://127.0.0.1:" + half.port())));
        Matcher m = EXPOSING.matcher(agent.awaitLog("exposing tcp ", Duration.ofSeconds(60)));
        assertThat(m.find()).isTrue();
        agentPort = Integer.parseInt(m.group(1));
        assertThat(agentPort).isBetween(lowPort, lowPort + PORTS - 1);
        await("the agent is in the registry").atMost(Duration.ofSeconds(30)).until(() -> agentOwner()
                .matches("r[123]"));
        String owner = agentOwner();
        assertThat(postgres.psql("SELECT owner_replica || ' ' || (expires_at IS NULL) FROM port_leases WHERE port = "
                        + agentPort))
                .isEqualTo(owner + " true");
        double portsBefore = exposeRelayed("port");
        double routesBefore = exposeRelayed("route");
        long seed = 40;
        for (Node exit : exits) {
            awaitBound(exit, agentPort);
            long started = System.nanoTime();
            transferVia(publicHost(exit), agentPort, 4 * MIB, seed++);
            figure(String.format(
                    "expose: 4 MiB each way through port %d on %s (%s): %d ms",
                    agentPort,
                    exit.name(),
                    exit.name().equals("exit-" + owner) ? "owner" : "relayed to " + owner,
                    (System.nanoTime() - started) / 1_000_000));
            // from a client address of its own, so that the service can tell it from the replicas' (127.0.0.1)
            String[] route =
                    curl(exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/index.html", "--interface", CLIENT_ADDRESS);
            assertThat(route[0]).as("route through %s", exit.name()).isEqualTo("200");
            assertThat(route[1].trim()).isEqualTo(HttpFixture.BODY.trim());
            assertThat(web.forwardedFor())
                    .as("X-Forwarded-For the service got through %s (relayed or not)", exit.name())
                    .startsWith(CLIENT_ADDRESS);
            assertThat(curl(exit.httpUrl() + "/index.html", "X-Token: " + ROUTE_TOKEN)[0])
                    .as("X-Token route through %s", exit.name())
                    .isEqualTo("200");
            String[] byHost = curl(exit.httpUrl() + "/index.html", "Host: web." + HTTP_DOMAIN);
            assertThat(byHost[0]).as("host route through %s", exit.name()).isEqualTo("200");
            assertThat(byHost[1].trim()).isEqualTo(HttpFixture.BODY.trim());
        }
        // through the shipped nginx config (round-robin over the replicas): each kind of route three times in a row,
        // so that it reaches every replica
        String viaNginx = "http://127.0.0.1:" + nginx.port();
        List<String[]> kinds = List.of(
                new String[] {"/_token/ route", viaNginx + "/_token/" + ROUTE_TOKEN + "/index.html", "X-Unused: 1"},
                new String[] {"X-Token route", viaNginx + "/index.html", "X-Token: " + ROUTE_TOKEN},
                new String[] {"host route", viaNginx + "/index.html", "Host: web." + HTTP_DOMAIN});
        for (String[] kind : kinds) {
            for (int i = 0; i < 3; i++) {
                String[] answer = curl(kind[1], kind[2]);
                assertThat(answer[0])
                        .as("%s through nginx, request %d", kind[0], i + 1)
                        .isEqualTo("200");
                assertThat(answer[1].trim()).isEqualTo(HttpFixture.BODY.trim());
            }
        }
        assertThat(curl("http://127.0.0.1:" + nginx.port() + "/_token/no-such-route-token-000/")[0])
                .as("an unknown route token through nginx")
                .isEqualTo("404");
        // a WebSocket to the agent's echo service (through the Hub's route) on every replica: the non-owners relay the
        // upgrade to the owner and join the two connections
        for (Node exit : exits) {
            String message = "hello over " + exit.name() + " " + "x".repeat(3000);
            assertThat(echoThroughWebSocket(
                            java.net.URI.create(exit.wsUrl() + "/hub/v1/agents/agent-r/services/echo/ws"), message))
                    .as("WebSocket through %s", exit.name())
                    .isEqualTo(message);
        }
        // an unknown route is still a plain 404 on every replica
        assertThat(curl(exits.get(0).httpUrl() + "/_token/no-such-route-token-000/")[0])
                .isEqualTo("404");
        assertThat(exposeRelayed("port") - portsBefore)
                .as("connections to the two non-owners' ports relayed to the owner")
                .isGreaterThanOrEqualTo(2);
        assertThat(exposeRelayed("route") - routesBefore).isGreaterThanOrEqualTo(2);
        awaitAudit(
                "relayed public connections",
                "kind = 'relay' AND transport = 'public-port' AND outcome = 'relayed' AND bytes_up >= " + 4 * MIB,
                2);
        // every public connection on the agent's replica (direct or relayed there), with its bytes
        awaitAudit(
                "public connections (uploads) on the agent's replica",
                "kind = 'expose' AND transport = 'public-port' AND replica = '" + owner + "' AND bytes_up >= "
                        + 4 * MIB,
                3);
        awaitAudit(
                "public connections (downloads) on the agent's replica",
                "kind = 'expose' AND transport = 'public-port' AND replica = '" + owner + "' AND bytes_down >= "
                        + 4 * MIB,
                3);
        // each route request, on the replica that served it, with the client a relaying replica named
        awaitAudit(
                "route requests from the client's own address",
                "kind = 'route' AND remote_address LIKE '" + CLIENT_ADDRESS + "%' AND outcome = '200'"
                        + " AND target = 'agent-r/web' AND detail = 'GET /index.html'",
                3);
    }

    /**
     * An upgraded route connection keeps its other direction after one side's FIN, as nginx keeps an upgraded
     * connection: the client sends, shuts its output down and still reads the whole answer that the service writes only
     * once it saw the end of its input; through the replica that holds the agent and through the two that relay to it.
     * A connection left half-closed is closed after {@code upgrade-half-close-timeout}, and the agent's connection to
     * the service with it.
     */
    @Test
    @Order(5)
    void anUpgradedRouteConnectionKeepsItsOtherDirectionAfterOneSidesFin() throws Exception {
        String owner = agentOwner();
        assertThat(owner).matches("r[123]");
        long seed = 700;
        for (Node exit : exits) {
            String via = exit.name().equals("exit-" + owner) ? "owner" : "relayed to " + owner;
            long sent = MIB + seed;
            long answer = 2 * MIB + seed;
            long started = System.nanoTime();
            try (Socket s = open("127.0.0.1", exit.httpPort())) {
                upgrade(s, "/reply/" + answer);
                byte[] sentDigest = Payload.write(s.getOutputStream(), seed, sent);
                s.shutdownOutput();
                var in = s.getInputStream();
                String line = readLine(in);
                assertThat(line)
                        .as("the service's summary through %s (%s), after the client's FIN", exit.name(), via)
                        .isEqualTo("got " + sent + " " + Payload.hex(sentDigest));
                byte[] expected;
                try (var sink = java.io.OutputStream.nullOutputStream()) {
                    expected = Payload.write(sink, answer, answer);
                }
                assertThat(Payload.hex(Payload.read(in, answer)))
                        .as("the answer through %s (%s)", exit.name(), via)
                        .isEqualTo(Payload.hex(expected));
                assertThat(in.read())
                        .as("the end after the answer through %s", exit.name())
                        .isEqualTo(-1);
            }
            figure(String.format(
                    "half-close: upgraded route via %s (%s): %d bytes up, FIN, then %d bytes down: %d ms",
                    exit.name(), via, sent, answer, (System.nanoTime() - started) / 1_000_000));
            seed++;
        }
        // Left half-closed (the service keeps writing after the client's FIN): closed after the bound, through a
        // replica
        // that relays (its own bound and the owner's run about together) and through the owner.
        for (Node exit : List.of(
                exits.stream()
                        .filter(e -> !e.name().equals("exit-" + owner))
                        .findFirst()
                        .orElseThrow(),
                exits.stream()
                        .filter(e -> e.name().equals("exit-" + owner))
                        .findFirst()
                        .orElseThrow())) {
            int endsBefore = half.trickleEnds().size();
            try (Socket s = open("127.0.0.1", exit.httpPort())) {
                upgrade(s, "/trickle");
                s.shutdownOutput();
                long finAt = System.nanoTime();
                var in = s.getInputStream();
                long trickled = 0;
                try {
                    while (in.read() >= 0) {
                        trickled++;
                    }
                } catch (java.net.SocketException reset) {
                    // a reset is a close too
                }
                long ms = (System.nanoTime() - finAt) / 1_000_000;
                figure(String.format(
                        "half-close: connection left half-closed via %s closed after %d ms (%d bytes trickled meanwhile;"
                                + " bound %d ms)",
                        exit.name(), ms, trickled, HALF_CLOSED.toMillis()));
                assertThat(trickled)
                        .as("bytes the service wrote after the client's FIN reached it (via %s)", exit.name())
                        .isPositive();
                assertThat(ms)
                        .as("the half-closed connection via %s lasts about the bound", exit.name())
                        .isBetween(HALF_CLOSED.toMillis() - 500, HALF_CLOSED.toMillis() + 20_000);
            }
            await("the agent's connection to the service closed with it (via " + exit.name() + ")")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> half.trickleEnds().size() > endsBefore);
            assertThat(half.trickleEnds().get(half.trickleEnds().size() - 1))
                    .as("the service's writes failed (its connection was closed), ms after its input ended")
                    .isBetween(HALF_CLOSED.toMillis() - 500, HALF_CLOSED.toMillis() + 20_000);
        }
    }

    /** Sends an upgrade request for the agent's {@code half} service (host route) and reads the 101 head. */
    private static void upgrade(Socket s, String path) throws IOException {
        s.getOutputStream()
                .write(("GET " + path + " HTTP/1.1\r\nHost: half." + HTTP_DOMAIN
                                + "\r\nConnection: Upgrade\r\nUpgrade: " + HalfCloseService.PROTOCOL + "\r\n\r\n")
                        .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        s.getOutputStream().flush();
        StringBuilder head = new StringBuilder();
        var in = s.getInputStream();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0 || head.length() > 16 * 1024) {
                throw new IOException("no 101 for " + path + ": " + head);
            }
            head.append((char) b);
        }
        assertThat(head.toString()).as("the answer to the upgrade of %s", path).startsWith("HTTP/1.1 101");
    }

    private static String readLine(java.io.InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int b = in.read(); b != '\n'; b = in.read()) {
            if (b < 0 || line.length() > 1024) {
                throw new IOException("the connection ended before a line: '" + line + "'");
            }
            line.append((char) b);
        }
        return line.toString();
    }

    @Test
    @Order(6)
    void aConnectionWaitingForAnAgentFollowsItToTheReplicaItComesBackTo() throws Exception {
        Node first = exits.get(0);
        Node waitsOn = exits.get(1);
        Node back = exits.get(2);
        Consumer<NodeSpec> agentQ = e -> e.set("splitstream.entry.transport", "websocket")
                .set("splitstream.entry.agent", "agent-q")
                .set("splitstream.entry.expose", "q=127.0.0.1:" + target.port());
        Pattern exposing = Pattern.compile("exposing q \\S+ at tcp://\\S+:(\\d+)");
        int port;
        try (Node agentOnFirst = entry("agent-q", e -> agentQ.accept(e.server(first.wsUrl())))) {
            Matcher m = exposing.matcher(agentOnFirst.awaitLog("exposing q ", Duration.ofSeconds(60)));
            assertThat(m.find()).isTrue();
            port = Integer.parseInt(m.group(1));
            awaitBound(waitsOn, port);
            awaitBound(back, port);
            agentOnFirst.stop();
        }
        await(waitsOn.name() + " sees agent-q away")
                .atMost(Duration.ofSeconds(30))
                .until(() -> curl(waitsOn.httpUrl() + "/hub/v1/agents/agent-q", "Authorization: Bearer " + HUB_TOKEN)[1]
                        .replaceAll("\\s", "")
                        .contains("\"connected\":false"));
        double relayedBefore = waitsOn.metric("splitstream_exit_expose_relayed_total", "kind=\"port\"");
        CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
            try {
                transferVia(publicHost(waitsOn), port, 2 * MIB, 70);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        await("the connection waits on " + waitsOn.name())
                .atMost(Duration.ofSeconds(30))
                .until(() -> waitsOn.metric("splitstream_exit_expose_queued", "") >= 1);
        assertThat(waiting).isNotDone();
        // the agent comes back to another replica than the one its connection waits on
        try (Node agentOnBack = entry("agent-q-back", e -> agentQ.accept(e.server(back.wsUrl())))) {
            long backAt = System.nanoTime();
            Matcher m = exposing.matcher(agentOnBack.awaitLog("exposing q ", Duration.ofSeconds(60)));
            assertThat(m.find()).isTrue();
            assertThat(Integer.parseInt(m.group(1))).as("the same port").isEqualTo(port);
            // well inside the queue timeout (60 s): the connection does not wait it out on the replica it reached
            waiting.get(40, TimeUnit.SECONDS);
            figure(String.format(
                    "expose: a connection waiting on %s for its agent followed it to %s, transfer done %d ms after the"
                            + " agent was back",
                    waitsOn.name(), back.name(), (System.nanoTime() - backAt) / 1_000_000));
            assertThat(waitsOn.linesContaining("waiting for agent agent-q follows it to replica "
                            + back.name().substring("exit-".length())))
                    .hasSize(1);
            assertThat(waitsOn.metric("splitstream_exit_expose_relayed_total", "kind=\"port\""))
                    .isGreaterThan(relayedBefore);
            assertThat(waitsOn.metric("splitstream_exit_expose_queued", "")).isZero();
            // the Hub releases the agent through a replica that does not serve it: relayed to the one that does, which
            // forgets the agent and its lease in the database too
            String[] released = curl(
                    waitsOn.httpUrl() + "/hub/v1/agents/agent-q/leases",
                    "-X",
                    "DELETE",
                    "Authorization: Bearer " + HUB_TOKEN);
            assertThat(released[0]).as("Hub release through %s", waitsOn.name()).isEqualTo("204");
            await("agent-q gone from the registry")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> postgres.psql(
                                    "SELECT (SELECT count(*) FROM agents WHERE name = 'agent-q' AND"
                                            + " deleted_at IS NULL) + (SELECT count(*) FROM port_leases WHERE agent = 'agent-q')")
                            .equals("0"));
            assertThat(back.linesContaining("agent agent-q released")).hasSize(1);
        }
    }

    @Test
    @Order(7)
    void routeAndHubRequestsWaitingForAnAgentFollowItToTheReplicaItComesBackTo() throws Exception {
        Node first = exits.get(0);
        Node other = exits.get(1);
        Node back = exits.get(2);
        String routeToken = "follow-" + Tunnel.newToken().substring(0, 24);
        Consumer<NodeSpec> agentL = e -> e.set("splitstream.entry.transport", "websocket")
                .set("splitstream.entry.agent", "agent-l")
                .set("splitstream.entry.route-token", routeToken)
                .set("splitstream.entry.expose", "lateweb=http://127.0.0.1:" + web.port());
        try (Node agentOnFirst = entry("agent-l", e -> agentL.accept(e.server(first.wsUrl())))) {
            agentOnFirst.awaitLog("exposing lateweb ", Duration.ofSeconds(60));
            await("every replica serves agent-l's route")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> exits.stream()
                            .allMatch(
                                    e -> curl(e.httpUrl() + "/_token/" + routeToken + "/index.html")[0].equals("200")));
            agentOnFirst.kill();
        }
        double queuedBefore = exits.stream()
                .mapToDouble(e -> e.metric("splitstream_exit_expose_queued", ""))
                .sum();
        double hubBefore = exposeRelayed("hub");
        // during the gap: on the replica the agent was on and on another one, by every kind of route and the Hub
        Map<String, CompletableFuture<String[]>> waiting = new java.util.LinkedHashMap<>();
        waiting.put(
                "/_token/ route on " + first.name(),
                CompletableFuture.supplyAsync(() -> curl(first.httpUrl() + "/_token/" + routeToken + "/index.html")));
        waiting.put(
                "X-Token route on " + other.name(),
                CompletableFuture.supplyAsync(() -> curl(other.httpUrl() + "/index.html", "X-Token: " + routeToken)));
        waiting.put(
                "host route on " + other.name(),
                CompletableFuture.supplyAsync(
                        () -> curl(other.httpUrl() + "/index.html", "Host: lateweb." + HTTP_DOMAIN)));
        waiting.put(
                "Hub request on " + first.name(),
                CompletableFuture.supplyAsync(() -> curl(
                        first.httpUrl() + "/hub/v1/agents/agent-l/services/lateweb/index.html",
                        "Authorization: Bearer " + HUB_TOKEN)));
        await("the four requests wait for agent-l")
                .atMost(Duration.ofSeconds(30))
                .until(() -> exits.stream()
                                        .mapToDouble(e -> e.metric("splitstream_exit_expose_queued", ""))
                                        .sum()
                                - queuedBefore
                        >= 4);
        assertThat(waiting.values()).noneMatch(CompletableFuture::isDone);
        // the agent comes back, on another replica than the one it was on
        try (Node agentOnBack = entry("agent-l-back", e -> agentL.accept(e.server(back.wsUrl())))) {
            long backAt = System.nanoTime();
            agentOnBack.awaitLog("exposing lateweb ", Duration.ofSeconds(60));
            for (Map.Entry<String, CompletableFuture<String[]>> w : waiting.entrySet()) {
                // well inside the queue timeout (60 s): the requests do not wait it out on the replica they reached
                String[] answer = w.getValue().get(40, TimeUnit.SECONDS);
                assertThat(answer[0]).as(w.getKey()).isEqualTo("200");
                assertThat(answer[1].trim()).as(w.getKey()).isEqualTo(HttpFixture.BODY.trim());
            }
            figure(String.format(
                    "expose: 4 route and Hub requests waiting for their agent followed it to %s, answered %d ms after"
                            + " the agent was back",
                    back.name(), (System.nanoTime() - backAt) / 1_000_000));
            String follows = "waiting for agent agent-l follows it to replica "
                    + back.name().substring("exit-".length());
            assertThat(exits.stream()
                            .mapToLong(e -> e.linesContaining(follows).size())
                            .sum())
                    .as("requests that followed agent-l (log lines '%s')", follows)
                    .isEqualTo(4);
            assertThat(exposeRelayed("hub") - hubBefore)
                    .as("the Hub request relayed, counted as kind=hub")
                    .isGreaterThanOrEqualTo(1);
            await("nothing waits any more")
                    .atMost(Duration.ofSeconds(10))
                    .until(() -> exits.stream()
                                    .mapToDouble(e -> e.metric("splitstream_exit_expose_queued", ""))
                                    .sum()
                            <= queuedBefore);
        }
    }

    @Test
    @Order(8)
    void postgresStoppedFor20sLiveSessionsMoveHandOffsFailClearlyAndItRecovers() throws Exception {
        int forward = Ports.free();
        try (CuttingRelay cutter = new CuttingRelay(nginx.port());
                Node entry = entry("entry-outage", e -> e.server("ws://127.0.0.1:" + cutter.port())
                        .set("splitstream.entry.transport", "websocket")
                        .forward(forward, "127.0.0.1", target.port()))) {
            Transfers.echo(forward, MIB, 10);
            long stoppedAt = System.nanoTime();
            postgres.stopServer();
            try {
                // readiness stays UP (200), degraded: one shared database down must not empty every endpoint
                await("every replica reports the registry degraded, still ready")
                        .atMost(Duration.ofSeconds(20))
                        .until(() -> exits.stream().allMatch(e -> degraded(e).orElse(false)));
                for (Node exit : exits) {
                    assertThat(exit.metric("splitstream_exit_registry_available", ""))
                            .as("%s's registry gauge", exit.name())
                            .isZero();
                }
                // the live session keeps moving
                Duration during = Transfers.uploadAndDownload(forward, 16 * MIB, 11, Duration.ofMinutes(2));
                figure(String.format(
                        "registry down: 16 MiB each way on the live session in %.1f s", during.toMillis() / 1000.0));
                // expose: the agent's port and route keep working on every replica (relays need no database), and a
                // new agent is refused a port, saying why
                long seed = 50;
                for (Node exit : exits) {
                    transferVia(publicHost(exit), agentPort, MIB, seed++);
                    assertThat(curl(exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/")[0])
                            .as("route through %s while the registry is down", exit.name())
                            .isEqualTo("200");
                }
                try (Node late = entry("agent-late", e -> e.server(nginx.wsUrl())
                        .set("splitstream.entry.agent", "agent-late")
                        .set("splitstream.entry.expose", "late=127.0.0.1:" + target.port()))) {
                    assertThat(late.awaitLog("cannot expose late", Duration.ofSeconds(60)))
                            .contains("registry database is unreachable")
                            .contains("no new public ports now")
                            .doesNotContain("unused-trust-auth");
                }
                // a cut: the resume reaches a non-owner, which cannot hand it over and says so; the entry retries
                // until round-robin brings it to the owner, which resumes without the database
                cutter.cut();
                entry.awaitLogCount("session resumed", 1, Duration.ofSeconds(60));
                Transfers.echo(forward, MIB, 12);
                long remaining = Duration.ofSeconds(20).toNanos() - (System.nanoTime() - stoppedAt);
                if (remaining > 0) {
                    await().pollDelay(Duration.ofNanos(remaining))
                            .atMost(Duration.ofSeconds(25))
                            .until(() -> true);
                }
                Transfers.echo(forward, MIB, 13);
            } finally {
                postgres.startServer();
            }
            figure(String.format(
                    "registry down for %d s",
                    Duration.ofNanos(System.nanoTime() - stoppedAt).toSeconds()));
            assertThat(exits.stream()
                            .mapToLong(e ->
                                    e.linesContaining("cannot hand session").size())
                            .sum())
                    .as("hand-offs refused while the database was down")
                    .isGreaterThanOrEqualTo(1);
            long upAt = System.nanoTime();
            await("every replica's registry back without a restart")
                    .atMost(Duration.ofSeconds(60))
                    .until(() -> exits.stream().allMatch(e -> degraded(e).equals(Optional.of(false))));
            figure("registry back: replicas no longer degraded " + (System.nanoTime() - upAt) / 1_000_000
                    + " ms after PostgreSQL");
            try (Node late = entry("agent-late", e -> e.server(nginx.wsUrl())
                    .set("splitstream.entry.agent", "agent-late")
                    .set("splitstream.entry.expose", "late=127.0.0.1:" + target.port()))) {
                Matcher granted = Pattern.compile("exposing late \\S+ at tcp://\\S+:(\\d+)")
                        .matcher(late.awaitLog("exposing late ", Duration.ofSeconds(60)));
                assertThat(granted.find())
                        .as("a new grant once the registry is back")
                        .isTrue();
                assertThat(Integer.parseInt(granted.group(1))).isNotEqualTo(agentPort);
            }
            // the public connections relayed while the database was down were audited once it was back
            awaitAudit(
                    "public connections relayed during the outage",
                    "kind = 'relay' AND transport = 'public-port' AND outcome = 'relayed' AND bytes_up >= " + MIB
                            + " AND at > now() - interval '3 minutes'",
                    2);
            double relayedBefore = relayed("websocket");
            cutter.cut();
            entry.awaitLogCount("session resumed", 2, Duration.ofSeconds(60));
            Transfers.echo(forward, 4 * MIB, 14);
            assertThat(entry.linesContaining("session established")).hasSize(1);
            // the refusals made while the database was down were queued and written once it was back
            await("refused hand-offs in the audit log")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> auditCount("kind = 'relay' AND outcome = 'GOING_AWAY'") >= 1);
            assertThat(relayed("websocket")).isGreaterThanOrEqualTo(relayedBefore);
        }
    }

    @Test
    @Order(9)
    void ownerKilledMidTransferTheEntryStartsANewSessionOnAnotherReplica() throws Exception {
        int forward = Ports.free();
        try (Node entry = entry("entry-kill", e -> e.server(nginx.wsUrl())
                .set("splitstream.entry.transport", "websocket")
                .forward(forward, "127.0.0.1", target.port()))) {
            Transfers.echo(forward, MIB, 20);
            // this entry's session is the newest; the owner may hold others (an agent killed earlier leaves its
            // session there until it expires)
            String[] newest = postgres.psql(
                            "SELECT id || ' ' || owner_replica FROM sessions ORDER BY created_at DESC" + " LIMIT 1")
                    .split(" ");
            String session = newest[0];
            String owner = newest[1];
            Node ownerNode = exits.stream()
                    .filter(e -> e.name().equals("exit-" + owner))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no replica " + owner));
            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, TRANSFER, 21, Duration.ofMinutes(2));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long inBefore = target.bytesIn();
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> target.bytesIn() > inBefore + 4 * MIB || transfer.isDone());
            long killedAt = System.nanoTime();
            ownerNode.kill();
            entry.awaitLogCount("session established", 2, Duration.ofSeconds(60));
            figure(String.format(
                    "owner replica killed: entry on a new session after %d ms (offline after 3 s)",
                    (System.nanoTime() - killedAt) / 1_000_000));
            assertThat(transfer).as("the streams of the lost session are reset").failsWithin(Duration.ofMinutes(2));
            Transfers.echo(forward, 4 * MIB, 22);
            await("the refused resume is in the audit log")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> auditCount("session_id = '" + session + "' AND outcome = 'UNKNOWN_SESSION'") >= 1);
            assertThat(postgres.psql("SELECT owner_replica FROM sessions ORDER BY created_at DESC LIMIT 1"))
                    .isNotEqualTo(owner);
        }
    }

    @Test
    @Order(10)
    void theAgentKeepsItsPortWhenItsReplicaDies() throws Exception {
        assertThat(agent).as("the agent of the expose cases").isNotNull();
        await().atMost(Duration.ofSeconds(30)).until(() -> agentOwner().matches("r[123]"));
        String owner = agentOwner();
        Node ownerNode = exits.stream()
                .filter(e -> e.name().equals("exit-" + owner))
                .findFirst()
                .orElseThrow();
        assertThat(ownerNode.isAlive()).isTrue();
        int announced = agent.linesContaining("exposing tcp ").size();
        Node survivor = exits.stream()
                .filter(e -> e != ownerNode && e.isAlive())
                .findFirst()
                .orElseThrow();
        long killedAt = System.nanoTime();
        ownerNode.kill();
        // A connection made while the agent has no replica: the survivor still takes the dead replica for the agent's
        // (until it is offline), so its relay fails; the connection waits for the agent and proceeds once it is back.
        CompletableFuture<Long> queued = CompletableFuture.supplyAsync(() -> {
            try (Socket s = open(publicHost(survivor), agentPort)) {
                byte[][] d = TargetServer.upload(s, 58, MIB, new AtomicLong());
                assertThat(Payload.hex(d[1])).isEqualTo(Payload.hex(d[0]));
                return (System.nanoTime() - killedAt) / 1_000_000;
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        List<String> lines = agent.awaitLogCount("exposing tcp ", announced + 1, Duration.ofSeconds(90));
        Matcher m = EXPOSING.matcher(lines.get(lines.size() - 1));
        assertThat(m.find()).isTrue();
        assertThat(Integer.parseInt(m.group(1)))
                .as("the same port on another replica")
                .isEqualTo(agentPort);
        figure(String.format(
                "expose: agent's replica killed, port %d granted again by another replica after %d ms",
                agentPort, (System.nanoTime() - killedAt) / 1_000_000));
        long queuedMs = queued.get(120, TimeUnit.SECONDS);
        figure(String.format(
                "expose: a connection made through %s right after the agent's replica died completed %d ms after the"
                        + " kill (1 MiB, SHA-256 equal)",
                survivor.name(), queuedMs));
        awaitAudit(
                "the relay to the dead replica that failed",
                "kind = 'relay' AND transport = 'public-port' AND outcome = 'owner_unreachable' AND target = 'replica "
                        + owner + "'",
                1);
        await("the agent's new replica is in the registry")
                .atMost(Duration.ofSeconds(30))
                .until(() -> agentOwner().matches("r[123]") && !agentOwner().equals(owner));
        String now = agentOwner();
        long seed = 60;
        for (Node exit : exits) {
            if (!exit.isAlive()) {
                continue;
            }
            awaitBound(exit, agentPort);
            transferVia(publicHost(exit), agentPort, 2 * MIB, seed++);
            assertThat(curl(exit.httpUrl() + "/_token/" + ROUTE_TOKEN + "/")[0])
                    .as("route through %s after %s died", exit.name(), owner)
                    .isEqualTo("200");
        }
        assertThat(postgres.psql("SELECT owner_replica || ' ' || (expires_at IS NULL) FROM port_leases WHERE port = "
                        + agentPort))
                .isEqualTo(now + " true");
        assertThat(exits.stream()
                        .mapToLong(
                                e -> e.linesContaining("address already in use").size())
                        .sum())
                .isZero();
    }

    @Test
    @Order(11)
    void aSplitPathsSecondLegWaitsForASessionRowWrittenLate() throws Exception {
        // The case shows the old failure only when the JOIN arrives within 0.5 s of the session's opening (the row
        // lands 2 s after it, the old look-up gave up after 1.5 s). On a loaded machine the entry's second leg may come
        // later; then the row is found sooner and the case is repeated, at most three times.
        long ms = 0;
        for (int attempt = 1; attempt <= 3 && ms <= 1500; attempt++) {
            ms = lateRowAttempt(attempt);
        }
        assertThat(ms)
                .as("longer than the old fixed 1.5 s retry (in one of three attempts)")
                .isGreaterThan(1500);
    }

    /** One split session opened on the slow writer, its downstream leg on another replica: how long the leg waited. */
    private long lateRowAttempt(int attempt) throws Exception {
        Node other = exits.stream().filter(Node::isAlive).findFirst().orElseThrow();
        int forward = Ports.free();
        double relayedBefore = other.metric("splitstream_exit_relayed_total", "transport=\"websocket\"");
        // the session is opened on the slow writer (its row lands 2 s later); the JOIN_DOWNSTREAM leg reaches another
        // replica at once, which must wait for the row rather than answer UNKNOWN_SESSION
        try (Node entry = entry("entry-late-row", e -> e.set("splitstream.entry.upstream", slowWriter.wsUrl())
                .set("splitstream.entry.downstream", other.wsUrl())
                .set("splitstream.entry.transport", "websocket")
                .forward(forward, "127.0.0.1", target.port()))) {
            Transfers.echo(forward, MIB, 30);
            Matcher id = Pattern.compile("session established ([0-9a-f]{32})")
                    .matcher(entry.awaitLog("session established", Duration.ofSeconds(10)));
            assertThat(id.find()).isTrue();
            String session = id.group(1);
            assertThat(entry.linesContaining("session established"))
                    .as("one session: the JOIN was not refused")
                    .hasSize(1);
            assertThat(entry.linesContaining("no longer knows session")).isEmpty();
            assertThat(other.linesContaining("UNKNOWN_SESSION").stream()
                            .filter(l -> l.contains(session))
                            .toList())
                    .isEmpty();
            assertThat(other.metric("splitstream_exit_relayed_total", "transport=\"websocket\"") - relayedBefore)
                    .as("the downstream leg relayed to the slow writer")
                    .isGreaterThanOrEqualTo(1);
            Matcher waited = Pattern.compile("session " + session + " found after waiting (\\d+) ms")
                    .matcher(String.join("\n", other.linesContaining("session " + session + " found after waiting")));
            assertThat(waited.find())
                    .as("%s waited for the row (log line 'session ... found after waiting')", other.name())
                    .isTrue();
            long ms = Long.parseLong(waited.group(1));
            figure(String.format(
                    "registry: a split path's second leg waited %d ms for its session's row (written 2 s late; attempt"
                            + " %d)",
                    ms, attempt));
            return ms;
        }
    }
}
