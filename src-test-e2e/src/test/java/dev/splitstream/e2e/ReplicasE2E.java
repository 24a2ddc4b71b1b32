package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.fixture.NginxFixture;
import dev.splitstream.e2e.fixture.PostgresFixture;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
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
    /** 64 MiB each way: 256 MiB (the other transfer tests' size) through relays costs minutes on 2 shared cores. */
    private static final long TRANSFER = 64 * MIB;

    private static final String SECRET = "e2e-cluster-secret-0123456789";
    private static final Closer shared = new Closer();
    private static PostgresFixture postgres;
    private static TargetServer target;
    private static NginxFixture nginx;
    private static final List<Node> exits = new ArrayList<>();
    private static String token;

    @BeforeAll
    static void startReplicas() throws Exception {
        try {
            postgres = shared.add(PostgresFixture.start());
            target = shared.add(new TargetServer());
            token = Tunnel.newToken();
            List<NodeSpec> specs = new ArrayList<>();
            StringBuilder upstream = new StringBuilder();
            for (int i = 1; i <= 3; i++) {
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
                        .env("SPLITSTREAM_EXIT_CLUSTER_SECRET", SECRET);
                spec.set("splitstream.exit.replica-url", "http://127.0.0.1:" + spec.httpPort());
                upstream.append("server 127.0.0.1:").append(spec.httpPort()).append("; ");
                specs.add(spec);
            }
            for (NodeSpec spec : specs) {
                exits.add(shared.add(spec.start()));
            }
            for (Node exit : exits) {
                exit.awaitReady(Duration.ofSeconds(120));
            }
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

    @Test
    @Order(1)
    void webSocketTransferStaysIntactWhileEachResumeLandsOnAnotherReplica() throws Exception {
        int forward = Ports.free();
        double relayedBefore = relayed("websocket");
        try (CuttingRelay cutter = new CuttingRelay(nginx.port());
                Node entry = entry("entry-ws", e -> e.server("ws://127.0.0.1:" + cutter.port())
                        .set("splitstream.entry.transport", "websocket")
                        .forward(forward, "127.0.0.1", target.port()))) {
            CompletableFuture<Duration> transfer = CompletableFuture.supplyAsync(() -> {
                try {
                    return Transfers.uploadAndDownload(forward, TRANSFER, 7, Duration.ofMinutes(4));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long start = cutter.relayed();
            for (int cut = 1; cut <= 2; cut++) {
                long threshold = start + cut * 2 * TRANSFER / 3;
                await("cutter carried " + threshold / MIB + " MiB")
                        .atMost(Duration.ofMinutes(3))
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
            Duration elapsed = transfer.get(4, TimeUnit.MINUTES);
            figure(String.format(
                    "replicas: 64 MiB each way over WebSocket with two cuts, resumes relayed to the owner: %.1f s",
                    elapsed.toMillis() / 1000.0));
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
        try (Node entry = entry("entry-split", e -> e.set("splitstream.entry.upstream", nginx.wsUrl())
                .set("splitstream.entry.downstream", nginx.wsUrl())
                .set("splitstream.entry.transport", "websocket")
                .forward(forward, "127.0.0.1", target.port()))) {
            Duration elapsed = Transfers.uploadAndDownload(forward, TRANSFER, 8, Duration.ofMinutes(4));
            figure(String.format(
                    "replicas: 64 MiB each way over a split path, downstream leg relayed to the owner: %.1f s",
                    elapsed.toMillis() / 1000.0));
            assertThat(relayed("websocket") - relayedBefore)
                    .as("the JOIN_DOWNSTREAM leg reached another replica and was relayed")
                    .isGreaterThanOrEqualTo(1);
            assertThat(entry.linesContaining("session established")).hasSize(1);
        }
    }

    @Test
    @Order(3)
    void plainHttpWithConsecutiveRequestsOnDifferentReplicas() throws Exception {
        int forward = Ports.free();
        double relayedBefore = relayed("http");
        long bytes = 16 * MIB;
        try (Node entry = entry("entry-http", e -> e.server("http://127.0.0.1:" + nginx.port())
                .set("splitstream.entry.transport", "http")
                .forward(forward, "127.0.0.1", target.port()))) {
            Duration elapsed = Transfers.uploadAndDownload(forward, bytes, 9, Duration.ofMinutes(4));
            double relayedRequests = relayed("http") - relayedBefore;
            figure(String.format(
                    "replicas: 16 MiB each way over plain HTTP, %d requests relayed to the owner: %.1f s",
                    (long) relayedRequests, elapsed.toMillis() / 1000.0));
            assertThat(relayedRequests)
                    .as("POSTs and GETs that nginx sent to non-owners")
                    .isGreaterThanOrEqualTo(10);
            assertThat(entry.linesContaining("session established")).hasSize(1);
        }
    }

    @Test
    @Order(4)
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
                await("every replica reports the registry down")
                        .atMost(Duration.ofSeconds(20))
                        .until(() -> exits.stream().allMatch(e -> e.managementGet("/q/health/ready")
                                .isEmpty()));
                // the live session keeps moving
                Duration during = Transfers.uploadAndDownload(forward, 16 * MIB, 11, Duration.ofMinutes(2));
                figure(String.format(
                        "registry down: 16 MiB each way on the live session in %.1f s", during.toMillis() / 1000.0));
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
            await("every replica ready again without a restart")
                    .atMost(Duration.ofSeconds(60))
                    .until(() -> exits.stream()
                            .allMatch(e -> e.managementGet("/q/health/ready").isPresent()));
            figure("registry back: replicas ready " + (System.nanoTime() - upAt) / 1_000_000 + " ms after PostgreSQL");
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
    @Order(5)
    void ownerKilledMidTransferTheEntryStartsANewSessionOnAnotherReplica() throws Exception {
        int forward = Ports.free();
        try (Node entry = entry("entry-kill", e -> e.server(nginx.wsUrl())
                .set("splitstream.entry.transport", "websocket")
                .forward(forward, "127.0.0.1", target.port()))) {
            Transfers.echo(forward, MIB, 20);
            String owner = postgres.psql("SELECT owner_replica FROM sessions ORDER BY created_at DESC LIMIT 1");
            Node ownerNode = exits.stream()
                    .filter(e -> e.name().equals("exit-" + owner))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no replica " + owner));
            String session = postgres.psql("SELECT id FROM sessions WHERE owner_replica = '" + owner + "'");
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
}
