package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.PostgresFixture;
import dev.splitstream.e2e.fixture.SshdFixture;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
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
 * Expose (reverse tunnels) with real processes: agents (entry nodes with SPLITSTREAM_ENTRY_EXPOSE) next to an sshd, a
 * PostgreSQL and an echo server; clients reach them through the exit's public ports. One exit serves every case (a
 * tokens file with an agent tenant, a tenant without expose and a tenant with two ports); each case starts the agents
 * it needs.
 */
@ExtendWith(NodeLogs.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ExposeE2E {
    private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Pattern EXPOSING = Pattern.compile("exposing (\\S+) \\S+ at tcp://127\\.0\\.0\\.1:(\\d+)");

    private static final Closer SHARED = new Closer();
    private static Node exit;
    private static int low;
    private static int high;
    private static final String AGENTS = Tunnel.newToken();
    private static final String PLAIN = Tunnel.newToken();
    private static final String NARROW = Tunnel.newToken();

    @BeforeAll
    static void startExit() throws Exception {
        low = freeRange(20);
        high = low + 19;
        Path tokens = Files.createTempDirectory("splitstream-expose-").resolve("tokens.yaml");
        Files.writeString(
                tokens,
                String.join(
                        "\n",
                        "tokens:",
                        "  - id: agents",
                        "    secret: \"" + AGENTS + "\"",
                        "    expose: {maxQueued: 80}",
                        "  - id: plain",
                        "    secret: \"" + PLAIN + "\"",
                        "  - id: narrow",
                        "    secret: \"" + NARROW + "\"",
                        // the top of the range: the agents token takes the lowest free ports, leased for 10 minutes
                        "    expose: {ports: \"" + (high - 1) + "-" + high + "\", maxPorts: 1}",
                        ""));
        exit = SHARED.add(NodeSpec.exit("exit-expose")
                        .set("splitstream.exit.tokens-file", tokens.toString())
                        .set("splitstream.exit.public-ports", low + "-" + high)
                        .set("splitstream.exit.public-host", "127.0.0.1")
                        .set("splitstream.exit.lease", "10m")
                        .set("splitstream.exit.queue-timeout", "120s")
                        .start())
                .awaitReady();
    }

    @AfterAll
    static void stopExit() throws Exception {
        SHARED.close();
    }

    /** The first of {@code n} consecutive loopback ports that bind now, below the ephemeral range. */
    private static int freeRange(int n) throws IOException {
        for (int attempt = 0; attempt < 200; attempt++) {
            int base = ThreadLocalRandom.current().nextInt(20000, 30000 - n);
            List<ServerSocket> held = new ArrayList<>();
            try {
                for (int p = base; p < base + n; p++) {
                    ServerSocket s = new ServerSocket();
                    held.add(s);
                    s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), p));
                }
                return base;
            } catch (IOException taken) {
                // try another block
            } finally {
                for (ServerSocket s : held) {
                    s.close();
                }
            }
        }
        throw new IOException("no " + n + " consecutive free ports");
    }

    private static NodeSpec agent(String name, String tokenId, String secret, String expose) {
        return NodeSpec.entry(name)
                .token(secret)
                .set("splitstream.token-id", tokenId)
                .set("splitstream.entry.agent", name)
                .set("splitstream.entry.expose", expose)
                .server(exit.wsUrl());
    }

    /** Waits for the agent's "exposing NAME ... at tcp://127.0.0.1:PORT" line (the {@code nth}, from 1) and returns PORT. */
    private static int awaitPort(Node agent, String service, int nth) {
        List<String> lines = agent.awaitLogCount("exposing " + service + " ", nth, WAIT);
        Matcher m = EXPOSING.matcher(lines.get(nth - 1));
        assertThat(m.find()).as(lines.get(nth - 1)).isTrue();
        return Integer.parseInt(m.group(2));
    }

    @Test
    @Order(1)
    void sshAndPsqlReachServicesNextToTheAgentThroughPublicPorts() throws Exception {
        String psql = Programs.require("psql").toString();
        try (SshdFixture sshd = SshdFixture.start();
                PostgresFixture postgres = PostgresFixture.start();
                Node agent = agent(
                                "db-host",
                                "agents",
                                AGENTS,
                                "ssh=127.0.0.1:" + sshd.port() + ",pg=127.0.0.1:" + postgres.port())
                        .start()) {
            int sshPort = awaitPort(agent, "ssh", 1);
            int pgPort = awaitPort(agent, "pg", 1);
            assertThat(sshPort).isBetween(low, high);
            assertThat(pgPort).isBetween(low, high).isNotEqualTo(sshPort);
            exit.awaitLog("agent db-host (token agents) exposes ssh", WAIT);

            Exec.Result ssh = sshd.ssh(sshPort, CLIENT_TIMEOUT, "echo", "splitstream-expose-ok")
                    .assertSuccess();
            assertThat(ssh.output()).contains("splitstream-expose-ok");
            figure("ssh echo through a public port: " + ssh.elapsed().toMillis() + " ms");

            Map<String, String> env = Map.of("PGCONNECT_TIMEOUT", "10", "PGUSER", "postgres", "PGDATABASE", "postgres");
            Exec.Result select = Exec.run(
                            CLIENT_TIMEOUT,
                            env,
                            null,
                            psql,
                            "-h",
                            "127.0.0.1",
                            "-p",
                            Integer.toString(pgPort),
                            "-Atc",
                            "select 40 + 2")
                    .assertSuccess();
            assertThat(select.output().trim()).isEqualTo("42");
            assertThat(exit.metric("splitstream_exit_expose_ports", "")).isGreaterThanOrEqualTo(2);
            assertThat(exit.metric("splitstream_exit_expose_connections_total", ""))
                    .isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    @Order(2)
    void aRestartedAgentGetsItsPortBackAndAConnectionOpenedMeanwhileCompletes() throws Exception {
        try (Closer closer = new Closer()) {
            TargetServer echo = closer.add(new TargetServer());
            Node agent = closer.add(agent("echo-host", "agents", AGENTS, "echo=127.0.0.1:" + echo.port())
                    .start());
            int port = awaitPort(agent, "echo", 1);
            Transfers.echo(port, 256 * 1024, 1);

            // 64 connections at once through the public port, each checked by SHA-256
            long bytes = Transfers.parallelEchoes(port, 64, 512 * 1024, 7, Duration.ofSeconds(240));
            figure("64 parallel connections through a public port: " + bytes + " bytes each way intact");

            // a second identity asking for the leased port is refused, and the holder keeps it
            Node thief = closer.add(agent("thief", "agents", AGENTS, "echo:" + port + "=127.0.0.1:" + echo.port())
                    .start());
            String refused = thief.awaitLog("cannot expose echo", WAIT);
            assertThat(refused).contains("port " + port + " is leased to another agent");

            agent.kill();
            // opened while the agent is gone: waits at the exit
            CompletableFuture<Void> during = CompletableFuture.runAsync(() -> {
                try {
                    Transfers.echo(port, 1024 * 1024, 2);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            org.awaitility.Awaitility.await("the connection waits for the agent")
                    .atMost(WAIT)
                    .until(() -> exit.metric("splitstream_exit_expose_queued", "") >= 1);
            assertThat(during).isNotDone();

            agent.restart();
            assertThat(awaitPort(agent, "echo", 2))
                    .as("the same port after a restart")
                    .isEqualTo(port);
            during.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(exit.logText()).doesNotContainIgnoringCase("address already in use");
            Transfers.echo(port, 64 * 1024, 3);
        }
    }

    @Test
    @Order(3)
    void anAgentStoppedWithReleaseFreesItsPortAtOnce() throws Exception {
        try (Closer closer = new Closer()) {
            TargetServer echo = closer.add(new TargetServer());
            Node leaving = closer.add(agent("leaving", "agents", AGENTS, "svc=127.0.0.1:" + echo.port())
                    .set("splitstream.entry.release-on-exit", "true")
                    .start());
            int port = awaitPort(leaving, "svc", 1);
            leaving.stop();
            exit.awaitLog("agent leaving released", WAIT);
            Node next = closer.add(agent("next", "agents", AGENTS, "svc:" + port + "=127.0.0.1:" + echo.port())
                    .start());
            assertThat(awaitPort(next, "svc", 1)).isEqualTo(port);
            Transfers.echo(port, 64 * 1024, 4);
        }
    }

    @Test
    @Order(5)
    void anAgentWhoseConnectionIsCutResumesAndKeepsServingItsPort() throws Exception {
        try (Closer closer = new Closer()) {
            TargetServer echo = closer.add(new TargetServer());
            CuttingRelay relay = closer.add(new CuttingRelay(exit.httpPort()));
            Node agent = closer.add(agent("cut-host", "agents", AGENTS, "echo=127.0.0.1:" + echo.port())
                    .server("ws://127.0.0.1:" + relay.port())
                    .start());
            int port = awaitPort(agent, "echo", 1);
            String session = agent.awaitLog("session established", WAIT);
            double portsBefore = exit.metric("splitstream_exit_expose_ports", "");

            // a transfer through the public port runs while the agent's connection is cut twice
            CompletableFuture<Void> during = CompletableFuture.runAsync(() -> {
                try {
                    Transfers.echo(port, 16L * 1024 * 1024, 5);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            for (int cut = 1; cut <= 2; cut++) {
                long before = relay.relayed();
                org.awaitility.Awaitility.await("bytes through the relay before cut " + cut)
                        .atMost(WAIT)
                        .until(() -> relay.relayed() > before + 256 * 1024 || during.isDone());
                assertThat(relay.cut()).as("connections cut").isGreaterThanOrEqualTo(1);
                agent.awaitLogCount("session resumed", cut, WAIT);
            }
            during.get(WAIT.toSeconds(), TimeUnit.SECONDS);

            // the same session (resumed, not restarted), the same port, no second grant, and new connections work
            assertThat(agent.linesContaining("session established")).hasSize(1);
            assertThat(session)
                    .contains(agent.linesContaining("session resumed")
                            .get(0)
                            .replaceAll(".*session resumed ([0-9a-f]+).*", "$1"));
            assertThat(agent.linesContaining("exposing echo ")).hasSize(1);
            assertThat(exit.metric("splitstream_exit_expose_ports", "")).isEqualTo(portsBefore);
            Transfers.echo(port, 256 * 1024, 6);
        }
    }

    @Test
    @Order(4)
    void badRequestsGetClearErrors() throws Exception {
        try (Closer closer = new Closer()) {
            TargetServer echo = closer.add(new TargetServer());
            Node forbidden = closer.add(agent("plain-agent", "plain", PLAIN, "svc=127.0.0.1:" + echo.port())
                    .start());
            assertThat(forbidden.awaitLog("cannot expose svc", WAIT)).contains("expose is not allowed for token plain");

            Node narrow = closer.add(agent(
                            "narrow-agent",
                            "narrow",
                            NARROW,
                            "out:" + low + "=127.0.0.1:" + echo.port() + ",in=127.0.0.1:" + echo.port()
                                    + ",more=127.0.0.1:" + echo.port())
                    .start());
            assertThat(narrow.awaitLog("cannot expose out", WAIT))
                    .contains("port " + low + " is outside the allowed range " + (high - 1) + "-" + high);
            int in = awaitPort(narrow, "in", 1);
            assertThat(in).isBetween(high - 1, high);
            assertThat(narrow.awaitLog("cannot expose more", WAIT)).contains("(max 1)");
            Transfers.echo(in, 64 * 1024, 5);

            // a malformed service list stops the agent with the key's name
            Node broken = closer.add(
                    agent("broken", "agents", AGENTS, "Bad_Name=127.0.0.1:1").start());
            broken.awaitLog("splitstream.entry.expose", WAIT);
            org.awaitility.Awaitility.await("the misconfigured agent exits")
                    .atMost(WAIT)
                    .until(() -> !broken.isAlive());
        }
    }

    /**
     * A connection waiting (as a socket bridge holding a lease) for an agent that is away is not taken by the buffer
     * budget's flood rule: a new stream takes the place of a stream that holds bytes and moved none for
     * {@code BufferBudget.PREEMPT_AFTER}, and a waiting connection holds none (it does not read until its stream opens).
     * A flood into a service that never reads fills a small budget meanwhile and the budget resets stuck streams (to
     * make room, or after the stall timeout); the waiting connection completes once its agent is back.
     */
    @Test
    @Order(6)
    void aConnectionWaitingForAnAwayAgentIsNotTakenByAFloodsPreemption() throws Exception {
        List<java.net.Socket> holeSockets = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<java.nio.channels.SocketChannel> flood = new ArrayList<>();
        try (Closer closer = new Closer();
                ServerSocket hole = new ServerSocket()) {
            // a small receive window, so that the agent's socket fills (and the exit's streams stop) within seconds
            hole.setReceiveBufferSize(4096);
            hole.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
            Thread acceptor = new Thread(() -> {
                while (!hole.isClosed()) {
                    try {
                        holeSockets.add(hole.accept()); // accepted, never read
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            TargetServer echo = closer.add(new TargetServer());
            String token = Tunnel.newToken();
            int ports = freeRange(2);
            // 16 streams of 16 KiB: a flood of 64 connections spends it many times over
            Node small = closer.add(NodeSpec.exit("exit-small-budget")
                            .token(token)
                            .set("splitstream.exit.public-ports", ports + "-" + (ports + 1))
                            .set("splitstream.exit.public-host", "127.0.0.1")
                            .set("splitstream.exit.queue-timeout", "120s")
                            .set("splitstream.buffer.budget", "256K")
                            .set("splitstream.buffer.stream-share", "16K")
                            .start())
                    .awaitReady();
            Node waitedFor = closer.add(NodeSpec.entry("waited-for")
                    .token(token)
                    .set("splitstream.entry.agent", "waited-for")
                    .set("splitstream.entry.expose", "echo=127.0.0.1:" + echo.port())
                    .server(small.wsUrl())
                    .start());
            int port = awaitPort(waitedFor, "echo", 1);
            Node sink = closer.add(NodeSpec.entry("sink")
                    .token(token)
                    .set("splitstream.entry.agent", "sink")
                    .set("splitstream.entry.expose", "sink=127.0.0.1:" + hole.getLocalPort())
                    .server(small.wsUrl())
                    .start());
            int sinkPort = awaitPort(sink, "sink", 1);
            Transfers.echo(port, 64 * 1024, 20);

            waitedFor.kill();
            // once the exit saw the agent go (before that a new stream would wait inside its session, not in the queue)
            small.awaitLog("detached, kept", WAIT);
            // waits through the whole flood (about 40 s): a read timeout of its own, longer than Transfers' 30 s
            CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
                try (java.net.Socket socket = new java.net.Socket()) {
                    socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
                    socket.setSoTimeout(180_000);
                    byte[][] digests = TargetServer.echo(socket, 21, 256 * 1024);
                    assertThat(dev.splitstream.e2e.harness.Payload.hex(digests[1]))
                            .isEqualTo(dev.splitstream.e2e.harness.Payload.hex(digests[0]));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            org.awaitility.Awaitility.await("the connection waits for its agent")
                    .atMost(WAIT)
                    .until(() -> small.metric("splitstream_exit_expose_queued", "") >= 1);

            // the flood: 64 connections at a time into the sink's port, pushing for 30 s (the agent's socket buffers
            // take several MB per stream before its streams stop moving); each one the exit closes (refused, or reset
            // to make room) is replaced, at most 40 a second, so new streams keep asking for the spent budget
            InetSocketAddress sinkAddress = new InetSocketAddress(InetAddress.getLoopbackAddress(), sinkPort);
            for (int i = 0; i < 64; i++) {
                java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open();
                c.configureBlocking(false);
                c.connect(sinkAddress);
                flood.add(c);
            }
            int opened = 64;
            java.nio.ByteBuffer chunk = java.nio.ByteBuffer.allocate(64 * 1024);
            long floodStarted = System.nanoTime();
            long until = floodStarted + Duration.ofSeconds(30).toNanos();
            long taken = 0;
            int closedByTheExit = 0;
            while (System.nanoTime() < until) {
                for (int i = 0; i < flood.size(); i++) {
                    java.nio.channels.SocketChannel c = flood.get(i);
                    if (!c.isOpen()) {
                        if (opened >= 64 + 40 * (System.nanoTime() - floodStarted) / 1_000_000_000L) {
                            continue;
                        }
                        c = java.nio.channels.SocketChannel.open();
                        c.configureBlocking(false);
                        c.connect(sinkAddress);
                        flood.set(i, c);
                        opened++;
                    }
                    try {
                        if (c.isConnectionPending() && !c.finishConnect()) {
                            continue;
                        }
                        taken += c.write(chunk.clear());
                    } catch (IOException closed) {
                        closedByTheExit++;
                        c.close();
                    }
                }
            }
            figure(String.format(
                    "expose: flood into a sink for 30 s (%d connections, %d closed by the exit) took %d KB; a"
                            + " connection waiting for its agent meanwhile kept its place",
                    opened, closedByTheExit, taken / 1000));
            // the flood did spend the budget, and the budget took streams that moved nothing: to make room for new
            // ones (stuck 2 s), or once they had been stuck for the stall timeout (30 s), whichever came first under
            // this machine's load (the sweep logs either every 5 s)
            small.awaitLog("stalled streams", Duration.ofSeconds(20));
            assertThat(waiting)
                    .as("the waiting connection is still waiting, not reset")
                    .isNotDone();
            assertThat(small.metric("splitstream_exit_expose_queued", "")).isEqualTo(1.0);

            waitedFor.restart();
            assertThat(awaitPort(waitedFor, "echo", 2)).isEqualTo(port);
            waiting.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        } finally {
            for (java.nio.channels.SocketChannel c : flood) {
                c.close();
            }
            for (java.net.Socket s : holeSockets) {
                s.close();
            }
        }
    }
}
