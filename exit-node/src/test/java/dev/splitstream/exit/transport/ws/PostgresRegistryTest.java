package dev.splitstream.exit.transport.ws;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;

import dev.splitstream.exit.registry.AgentEntity;
import dev.splitstream.exit.registry.AuditEntity;
import dev.splitstream.exit.registry.ExitRegistry;
import dev.splitstream.exit.registry.ExitRegistry.OwnerLookup;
import dev.splitstream.exit.registry.PortLeaseEntity;
import dev.splitstream.exit.registry.PostgresProfile;
import dev.splitstream.exit.registry.ReplicaEntity;
import dev.splitstream.exit.registry.ServiceEntity;
import dev.splitstream.exit.registry.SessionEntity;
import dev.splitstream.exit.registry.TestPostgres;
import dev.splitstream.protocol.Frame;
import io.agroal.api.AgroalDataSource;
import io.quarkus.narayana.jta.QuarkusTransaction;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import jakarta.inject.Inject;
import java.net.URL;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The exit with its registry in a real PostgreSQL: Flyway's schema, the entities, sessions' ownership and the audit log,
 * owner look-ups that see only live replicas, and a database outage that live sessions never notice.
 */
@QuarkusTest
@TestProfile(PostgresProfile.class)
class PostgresRegistryTest {
    static final String TOKEN_ID = "test";
    static final String SECRET = "test-secret-0123456789-DO-NOT-LOG";

    @Inject
    Vertx vertx;

    @Inject
    ExitRegistry registry;

    @Inject
    AgroalDataSource dataSource;

    @TestHTTPResource("/")
    URL base;

    @TestHTTPResource(value = "/", management = true)
    URL management;

    private static NetServer echo;
    private final List<TestTunnel> tunnels = new ArrayList<>();

    @BeforeAll
    static void startEcho() throws Exception {
        Vertx v = io.quarkus.arc.Arc.container().instance(Vertx.class).get();
        echo = v.createNetServer(new NetServerOptions().setHost("127.0.0.1").setPort(0))
                .connectHandler(socket -> socket.handler(socket::write))
                .listen()
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopEcho() {
        if (echo != null) {
            echo.close();
        }
    }

    @AfterEach
    void closeTunnels() {
        tunnels.forEach(TestTunnel::close);
        tunnels.clear();
    }

    private TestTunnel session() throws Exception {
        TestTunnel t = TestTunnel.connect(vertx, base.getPort());
        tunnels.add(t);
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        return t;
    }

    private long count(String sql) throws Exception {
        try (Connection c = dataSource.getConnection();
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private void exec(String sql) throws Exception {
        try (Connection c = dataSource.getConnection();
                Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    @Test
    void flywayCreatedTheSchemaAndEveryEntityRoundTrips() throws Exception {
        assertThat(count(
                        "SELECT count(*) FROM flyway_schema_history WHERE version IN ('1', '2', '3', '4') AND success"))
                .isEqualTo(4);
        // V3 dropped the table nothing used: an agent's name is held by its live row in agents
        assertThat(count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'name_leases'"))
                .isZero();
        Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
        Long agentId = QuarkusTransaction.requiringNew().call(() -> {
            AgentEntity a = new AgentEntity();
            a.name = "laptop";
            a.tokenId = "t1";
            a.ownerReplica = "r1";
            a.firstConnected = now;
            a.lastSeen = now;
            a.persist();
            ServiceEntity s = new ServiceEntity();
            s.agentId = a.id;
            s.name = "ssh";
            s.kind = "tcp";
            s.target = "127.0.0.1:22";
            s.publicPort = 10022;
            s.persist();
            PortLeaseEntity p = new PortLeaseEntity();
            p.port = 10022;
            p.identity = "t1/laptop/ssh";
            p.tokenId = "t1";
            p.agent = "laptop";
            p.service = "ssh";
            p.expiresAt = now.plusSeconds(600);
            p.persist();
            return a.id;
        });
        QuarkusTransaction.requiringNew().run(() -> {
            AgentEntity a = AgentEntity.findById(agentId);
            assertThat(a.name).isEqualTo("laptop");
            assertThat(a.firstConnected).isEqualTo(now);
            assertThat(ServiceEntity.<ServiceEntity>find("agentId", agentId).firstResult().publicPort)
                    .isEqualTo(10022);
            assertThat(PortLeaseEntity.<PortLeaseEntity>findById(10022).identity)
                    .isEqualTo("t1/laptop/ssh");
        });
        // A live agent's name is unique; a soft-deleted one frees it.
        assertThatThrownBy(() -> exec("INSERT INTO agents (name, token_id, first_connected, last_seen)"
                        + " VALUES ('laptop', 't2', now(), now())"))
                .hasMessageContaining("agents_live_name");
        exec("UPDATE agents SET deleted_at = now() WHERE name = 'laptop'");
        exec("INSERT INTO agents (name, token_id, first_connected, last_seen) VALUES ('laptop', 't2', now(), now())");
        assertThat(count("SELECT count(*) FROM agents WHERE name = 'laptop'")).isEqualTo(2);
        // The heart-beating replica is there.
        await().atMost(10, TimeUnit.SECONDS).until(() -> QuarkusTransaction.requiringNew()
                .call(() -> ReplicaEntity.<ReplicaEntity>findByIdOptional("test-replica")
                        .map(r -> r.url.equals("http://127.0.0.1:1"))
                        .orElse(false)));
    }

    @Test
    void sessionsAreOwnedByThisReplicaAndAuditedWithTheirBytes() throws Exception {
        TestTunnel t = session();
        String id = t.session().idHex();
        await().atMost(10, TimeUnit.SECONDS).until(() -> QuarkusTransaction.requiringNew()
                .call(() -> SessionEntity.<SessionEntity>findByIdOptional(id)
                        .map(s -> s.ownerReplica.equals("test-replica")
                                && s.transport.equals("websocket")
                                && s.remoteAddress.startsWith("127.0.0.1")
                                && s.tokenId.equals(TOKEN_ID))
                        .orElse(false)));
        TestTunnel.Recorder r = t.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        String text = "audited bytes ".repeat(1000);
        t.write(r, text);
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.receivedLength() == text.length());
        t.close();
        await().atMost(10, TimeUnit.SECONDS)
                .until(() -> count("SELECT count(*) FROM sessions WHERE id = '" + id + "'") == 0);
        await().atMost(10, TimeUnit.SECONDS).until(() -> QuarkusTransaction.requiringNew()
                .call(() -> AuditEntity.count(
                                "sessionId = ?1 and kind = 'session' and bytesUp >= ?2", id, (long) text.length())
                        == 1));
        AuditEntity dial = QuarkusTransaction.requiringNew()
                .call(() -> AuditEntity.<AuditEntity>find("sessionId = ?1 and kind = 'dial'", id)
                        .firstResult());
        assertThat(dial.target).isEqualTo("127.0.0.1:" + echo.actualPort());
        assertThat(dial.outcome).isEqualTo("connected");
        assertThat(dial.remoteAddress).startsWith("127.0.0.1");
        assertThat(dial.replica).isEqualTo("test-replica");
    }

    @Test
    void ownerLookupsSeeOnlyLiveReplicas() throws Exception {
        exec(
                "INSERT INTO replicas (id, url, started_at, heartbeat) VALUES ('other', 'http://127.0.0.1:9', now(), now())"
                        + " ON CONFLICT (id) DO UPDATE SET heartbeat = now()");
        exec("INSERT INTO sessions (id, token_id, owner_replica, transport, created_at, last_seen)"
                + " VALUES ('00112233445566778899aabbccddeeff', 'x', 'other', 'websocket', now(), now())"
                + " ON CONFLICT DO NOTHING");
        OwnerLookup owner = lookup("00112233445566778899aabbccddeeff");
        assertThat(owner.kind()).isEqualTo(OwnerLookup.Kind.OWNER);
        assertThat(owner.replicaId()).isEqualTo("other");
        assertThat(owner.url()).hasToString("http://127.0.0.1:9");
        assertThat(registry.replica("other")
                        .toCompletionStage()
                        .toCompletableFuture()
                        .get(10, TimeUnit.SECONDS)
                        .kind())
                .isEqualTo(OwnerLookup.Kind.OWNER);
        // The owner stops heart-beating: past replica-offline-after (2s here) its sessions are unknown.
        exec("UPDATE replicas SET heartbeat = now() - interval '3 seconds' WHERE id = 'other'");
        OwnerLookup gone = lookup("00112233445566778899aabbccddeeff");
        assertThat(gone.kind()).isEqualTo(OwnerLookup.Kind.UNKNOWN);
        assertThat(gone.detail()).contains("owned by replica other, which is offline");
        assertThat(lookup("ffeeddccbbaa99887766554433221100").kind()).isEqualTo(OwnerLookup.Kind.UNKNOWN);
    }

    /**
     * A batch write that takes long (here: held by a lock on the sessions table, as a loaded database would hold it)
     * does not stop this replica's heartbeat: the other replicas keep taking it for live, and do not refuse its
     * sessions' legs as owned by a dead replica. Past replica-offline-after (2 s here) with the writer stuck, the
     * heartbeat must still be fresh.
     */
    @Test
    void aSlowBatchWriteDoesNotStopTheHeartbeat() throws Exception {
        try (Connection holder = dataSource.getConnection()) {
            holder.setAutoCommit(false);
            try (Statement st = holder.createStatement()) {
                st.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE");
            }
            try {
                session(); // its row waits behind the lock, and so does the writer thread
                long stuckSince = System.nanoTime();
                await("the writer thread is stuck behind the lock")
                        .atMost(10, TimeUnit.SECONDS)
                        .until(() -> count("SELECT count(*) FROM pg_locks WHERE NOT granted") > 0);
                await("4 s with the writer stuck")
                        .during(java.time.Duration.ofSeconds(4))
                        .atMost(java.time.Duration.ofSeconds(10))
                        .until(() -> count("SELECT count(*) FROM replicas WHERE id = 'test-replica'"
                                        + " AND heartbeat > now() - interval '1500 milliseconds'")
                                == 1);
                assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stuckSince))
                        .isGreaterThanOrEqualTo(4000);
                assertThat(count("SELECT count(*) FROM pg_locks WHERE NOT granted"))
                        .as("the writer still waits for the lock")
                        .isPositive();
            } finally {
                holder.rollback();
            }
        }
        await("the session's row once the lock is gone")
                .atMost(10, TimeUnit.SECONDS)
                .until(() -> count("SELECT count(*) FROM sessions WHERE owner_replica = 'test-replica'") >= 1);
    }

    /**
     * A session row written late (its owner's batched write took longer than any fixed retry) is waited for: the
     * look-up asks the other replicas to flush and reads again until every live one's flush watermark has passed its
     * start. Replica {@code late} is played here in SQL, as a replica with a slow database would write: the row and
     * the watermark in one transaction, 2 s after the look-up began (the old fixed retry gave up after 1.5 s).
     */
    @Test
    void aSessionRowWrittenLateIsFoundOnceItsReplicasWatermarkPassesTheLookUp() throws Exception {
        String id = "0123456789abcdef0123456789abcdef";
        // live for the whole test (a heartbeat ahead of now), its watermark a minute behind
        exec("INSERT INTO replicas (id, url, started_at, heartbeat, flushed_through) VALUES ('late',"
                + " 'http://127.0.0.1:9', now(), now() + interval '1 minute', now() - interval '1 minute')"
                + " ON CONFLICT (id) DO UPDATE SET heartbeat = EXCLUDED.heartbeat,"
                + " flushed_through = EXCLUDED.flushed_through, stopped_at = NULL");
        try (Connection listening = dataSource.getConnection()) {
            try (Statement st = listening.createStatement()) {
                st.execute("LISTEN splitstream_registry");
            }
            org.postgresql.PGConnection pg = listening.unwrap(org.postgresql.PGConnection.class);
            List<String> notes = new ArrayList<>();
            java.util.concurrent.CompletableFuture<OwnerLookup> pending =
                    registry.ownerOf(id).toCompletionStage().toCompletableFuture();
            await("the look-up asks the other replicas to flush")
                    .atMost(10, TimeUnit.SECONDS)
                    .until(() -> {
                        for (org.postgresql.PGNotification n : pg.getNotifications(100)) {
                            notes.add(n.getParameter());
                        }
                        return notes.contains("flush test-replica");
                    });
            await("the look-up waits while replica late lags")
                    .during(java.time.Duration.ofSeconds(2))
                    .atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> !pending.isDone());
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try (Statement st = c.createStatement()) {
                    st.execute("UPDATE replicas SET flushed_through = now() WHERE id = 'late'");
                    st.execute("INSERT INTO sessions (id, token_id, owner_replica, transport, created_at, last_seen)"
                            + " VALUES ('" + id + "', 'x', 'late', 'websocket', now(), now())");
                }
                c.commit();
            }
            OwnerLookup found = pending.get(10, TimeUnit.SECONDS);
            assertThat(found.kind()).isEqualTo(OwnerLookup.Kind.OWNER);
            assertThat(found.replicaId()).isEqualTo("late");

            // A session nobody has: once late's watermark is past the look-up, it is unknown without further wait.
            exec("UPDATE replicas SET flushed_through = now() + interval '1 minute' WHERE id = 'late'");
            long started = System.nanoTime();
            OwnerLookup unknown = lookup("fedcba9876543210fedcba9876543210");
            assertThat(unknown.kind()).isEqualTo(OwnerLookup.Kind.UNKNOWN);
            assertThat(unknown.detail()).contains("no session");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started))
                    .as("no wait for a replica that flushed past the look-up")
                    .isLessThan(1500);

            // A replica that never writes (live, watermark stuck): the look-up gives up after replica-offline-after
            // (2 s here) plus 5 s, saying which replica lags, and the leg is refused for a retry (GOING_AWAY).
            exec("UPDATE replicas SET flushed_through = now() - interval '1 minute' WHERE id = 'late'");
            started = System.nanoTime();
            OwnerLookup stuck = registry.ownerOf("00000000000000000000000000000abc")
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(30, TimeUnit.SECONDS);
            assertThat(stuck.kind()).isEqualTo(OwnerLookup.Kind.UNAVAILABLE);
            assertThat(stuck.detail())
                    .contains("replica(s) late did not write their sessions up to this look-up within 7000 ms");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started))
                    .isGreaterThanOrEqualTo(7000);
        } finally {
            exec("UPDATE replicas SET heartbeat = now() - interval '1 hour' WHERE id = 'late'");
            exec("DELETE FROM sessions WHERE id = '" + id + "'");
        }
    }

    /** The value of an unlabelled meter on the management port, as Prometheus text shows it. */
    private String metric(String name) {
        String text = given().baseUri("http://" + management.getHost())
                .port(management.getPort())
                .get("/q/metrics")
                .then()
                .statusCode(200)
                .extract()
                .asString();
        return text.lines()
                .filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{"))
                .map(l -> l.substring(l.lastIndexOf(' ') + 1))
                .findFirst()
                .orElse("missing");
    }

    private OwnerLookup lookup(String id) throws Exception {
        return registry.ownerOf(id).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void databaseOutageKeepsLiveSessionsRefusesHandOffsAndRecoversWithoutRestart() throws Exception {
        TestTunnel t = session();
        String id = t.session().idHex();
        TestTunnel.Recorder r = t.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        TestPostgres.current.stopServer();
        try {
            await().atMost(15, TimeUnit.SECONDS).until(() -> !registry.status().available());
            given().baseUri("http://" + management.getHost())
                    .port(management.getPort())
                    .get("/q/health/ready")
                    .then()
                    // UP: every replica shares the database, so DOWN would take all of them out of the endpoints
                    .statusCode(200)
                    .body(containsString("\"status\": \"UP\""))
                    .body(containsString("\"degraded\": true"))
                    .body(containsString("unreachable"))
                    .body(containsString("no new hand-offs between replicas"));
            assertThat(metric("splitstream_exit_registry_available")).isEqualTo("0.0");
            assertThat(lookup(id).kind()).isEqualTo(OwnerLookup.Kind.UNAVAILABLE);
            // The live session keeps moving while the database is down.
            t.write(r, "still moving");
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("still moving"));
        } finally {
            TestPostgres.current.startServer();
        }
        await().atMost(30, TimeUnit.SECONDS).until(() -> registry.status().available());
        given().baseUri("http://" + management.getHost())
                .port(management.getPort())
                .get("/q/health/ready")
                .then()
                .statusCode(200)
                .body(containsString("reachable"))
                .body(containsString("\"degraded\": false"));
        assertThat(metric("splitstream_exit_registry_available")).isEqualTo("1.0");
        // a short outage fills nothing: no audit event was lost (the queue and its count: PostgresRegistryQueueTest)
        assertThat(metric("splitstream_exit_audit_dropped_total")).isEqualTo("0.0");
        await().atMost(10, TimeUnit.SECONDS)
                .until(() -> count("SELECT count(*) FROM sessions WHERE id = '" + id + "'") == 1);
        t.write(r, " and after");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("still moving and after"));
    }
}
