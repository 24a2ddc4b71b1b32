package dev.splitstream.exit.expose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.exit.registry.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Two replicas' expose stores on one real PostgreSQL (Flyway's V1 and V2): new leases decided in the database, the
 * view imported by the other replica, an identity keeping its port on another replica without asking the database,
 * leases of a replica that stops heart-beating counting down, and an outage that refuses new grants only.
 */
class PostgresExposeStoreTest {
    private static final TestPostgres postgres = new TestPostgres();
    private static PGSimpleDataSource db;

    @BeforeAll
    static void startPostgres() throws Exception {
        postgres.start();
        db = new PGSimpleDataSource();
        db.setURL(postgres.jdbcUrl());
        db.setUser("postgres");
        db.setConnectTimeout(3);
        db.setSocketTimeout(10);
        Flyway.configure()
                .dataSource(db)
                .locations("classpath:db/migration")
                .load()
                .migrate();
        heartbeat("r1");
        heartbeat("r2");
    }

    @AfterAll
    static void stopPostgres() {
        postgres.stop();
    }

    private static void exec(String sql) throws Exception {
        try (Connection c = db.getConnection();
                Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private static String query(String sql) throws Exception {
        try (Connection c = db.getConnection();
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static void heartbeat(String replica) throws Exception {
        exec("INSERT INTO replicas (id, url, started_at, heartbeat) VALUES ('" + replica + "', 'http://127.0.0.1:1',"
                + " now(), now()) ON CONFLICT (id) DO UPDATE SET heartbeat = now(), stopped_at = NULL");
    }

    private static PostgresExposeStore store(String replica) {
        PostgresExposeStore s =
                new PostgresExposeStore(db, replica, Duration.ofMinutes(10), Duration.ofSeconds(3), new RouteTokens());
        s.reload();
        return s;
    }

    private static ExposeStore.Claim acquire(ExposeStore s, ServiceKey key, int requested, int low, int high)
            throws Exception {
        return s.acquire(key, requested, low, high, Set.of(), Instant.now())
                .toCompletionStage()
                .toCompletableFuture()
                .get(20, TimeUnit.SECONDS);
    }

    private static AgentRecord agent(String name, String token, int port) {
        return new AgentRecord(
                name,
                token,
                true,
                Instant.now(),
                List.of(new AgentRecord.ServiceRecord("ssh", "tcp", "127.0.0.1:22", port)));
    }

    @Test
    void aLeaseDecidedInTheDatabaseIsSeenKeptAndRefusedToOthersOnEveryReplica() throws Exception {
        PostgresExposeStore r1 = store("r1");
        PostgresExposeStore r2 = store("r2");
        ServiceKey key = new ServiceKey("t1", "laptop", "ssh");
        ExposeStore.Claim first = acquire(r1, key, 0, 11000, 11009);
        assertThat(first.lease()).map(Lease::port).contains(11000);
        r1.putAgent(agent("laptop", "t1", 11000));
        r1.flush();
        assertThat(query("SELECT owner_replica FROM port_leases WHERE port = 11000"))
                .isEqualTo("r1");
        assertThat(query("SELECT expires_at IS NULL FROM port_leases WHERE port = 11000"))
                .isEqualTo("t");

        r2.reload();
        assertThat(r2.lease(key)).map(Lease::port).contains(11000);
        assertThat(r2.agent("laptop")).map(AgentRecord::connected).contains(true);
        assertThat(r2.agent("laptop").get().services())
                .extracting(AgentRecord.ServiceRecord::publicPort)
                .containsExactly(11000);
        assertThat(r2.remoteOwner("laptop")).contains("r1");
        assertThat(r1.remoteOwner("laptop")).isEmpty();

        // another identity asking any replica for the port is refused, naming the holder
        ExposeStore.Claim taken = acquire(r2, new ServiceKey("t2", "thief", "ssh"), 11000, 11000, 11009);
        assertThat(taken.refusal()).contains(ExposeStore.Refusal.PORT_TAKEN);
        assertThat(taken.holder()).contains(key);
        // a second identity gets the next free port, decided by the database
        assertThat(acquire(r2, new ServiceKey("t2", "other", "ssh"), 0, 11000, 11009)
                        .lease())
                .map(Lease::port)
                .contains(11001);

        // r1's session ends, the agent reconnects to r2: the port is granted from r2's view, at once
        r1.disconnect(key, Instant.now().plusSeconds(600));
        r1.flush();
        var again = r2.acquire(key, 0, 11000, 11009, Set.of(), Instant.now());
        assertThat(again.isComplete())
                .as("granted without waiting for the database")
                .isTrue();
        assertThat(again.result().lease()).map(Lease::port).contains(11000);
        r2.putAgent(agent("laptop", "t1", 11000));
        r2.flush();
        assertThat(query("SELECT owner_replica || ' ' || (expires_at IS NULL) FROM port_leases WHERE port = 11000"))
                .isEqualTo("r2 true");
        // r1's late word about its old session does not take the lease or the agent from r2
        r1.disconnect(key, Instant.now().plusSeconds(1));
        r1.putAgent(agent("laptop", "t1", 11000).withConnected(false, Instant.now()));
        r1.flush();
        assertThat(query("SELECT owner_replica || ' ' || (expires_at IS NULL) FROM port_leases WHERE port = 11000"))
                .isEqualTo("r2 true");
        assertThat(query("SELECT disconnected_at IS NULL FROM agents WHERE name = 'laptop' AND deleted_at IS NULL"))
                .isEqualTo("t");
        r1.reload();
        assertThat(r1.remoteOwner("laptop")).contains("r2");
        assertThat(r1.lease(key).get().expires()).isEmpty();
    }

    @Test
    void leasesOfAReplicaThatStopsHeartBeatingStartTheirCountdown() throws Exception {
        heartbeat("r3");
        PostgresExposeStore r3 = store("r3");
        // offline after 1 s: r2 calls replicas offline once it has been connected for twice that
        PostgresExposeStore r2 =
                new PostgresExposeStore(db, "r2", Duration.ofMinutes(10), Duration.ofSeconds(1), new RouteTokens());
        r2.reload();
        ServiceKey key = new ServiceKey("t3", "dies", "web");
        assertThat(acquire(r3, key, 0, 12000, 12009).lease()).isPresent();
        r3.putAgent(agent("dies", "t3", 12000));
        r3.flush();
        exec("UPDATE replicas SET heartbeat = now() - interval '10 seconds' WHERE id = 'r3'");
        r2.maintain();
        assertThat(query("SELECT expires_at IS NULL FROM port_leases WHERE port = 12000"))
                .as("no replica is called offline right after the database came back (nobody could beat)")
                .isEqualTo("t");
        await().atMost(20, TimeUnit.SECONDS)
                .pollInterval(Duration.ofMillis(500))
                .until(() -> {
                    r2.maintain();
                    return "t".equals(query("SELECT expires_at IS NOT NULL FROM port_leases WHERE port = 12000"));
                });
        assertThat(query("SELECT expires_at > now() + interval '9 minutes' FROM port_leases WHERE port = 12000"))
                .as("countdown of splitstream.exit.lease from now")
                .isEqualTo("t");
        assertThat(r2.agent("dies")).map(AgentRecord::connected).contains(false);
        assertThat(r2.remoteOwner("dies")).isEmpty();
        // the identity reconnecting to r2 keeps its port
        assertThat(acquire(r2, key, 0, 12000, 12009).lease()).map(Lease::port).contains(12000);
    }

    @Test
    void concurrentGrantsOnTwoReplicasNeverShareAPort() throws Exception {
        PostgresExposeStore r1 = store("r1");
        PostgresExposeStore r2 = store("r2");
        List<io.vertx.core.Future<ExposeStore.Claim>> claims = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            claims.add(r1.acquire(new ServiceKey("c", "a" + i, "s"), 0, 13000, 13015, Set.of(), Instant.now()));
            claims.add(r2.acquire(new ServiceKey("c", "b" + i, "s"), 0, 13000, 13015, Set.of(), Instant.now()));
        }
        Set<Integer> ports = new HashSet<>();
        int granted = 0;
        for (var f : claims) {
            ExposeStore.Claim c = f.toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
            if (c.lease().isPresent()) {
                granted++;
                assertThat(ports.add(c.lease().get().port()))
                        .as("port granted twice")
                        .isTrue();
            } else {
                assertThat(c.refusal().get()).isIn(ExposeStore.Refusal.RANGE_FULL, ExposeStore.Refusal.UNAVAILABLE);
            }
        }
        assertThat(granted).isEqualTo(16);
        assertThat(query("SELECT count(*) FROM port_leases WHERE port BETWEEN 13000 AND 13015"))
                .isEqualTo("16");
    }

    @Test
    void routeDigestsOfAgentsOnOtherReplicasAreImported() throws Exception {
        RouteTokens tokens1 = new RouteTokens();
        RouteTokens tokens2 = new RouteTokens();
        PostgresExposeStore r1 =
                new PostgresExposeStore(db, "r1", Duration.ofMinutes(10), Duration.ofSeconds(3), tokens1);
        PostgresExposeStore r2 =
                new PostgresExposeStore(db, "r2", Duration.ofMinutes(10), Duration.ofSeconds(3), tokens2);
        String routeToken = "route-token-0123456789-secret";
        tokens1.announce("web-agent", routeToken);
        r1.putAgent(new AgentRecord(
                "web-agent",
                "t4",
                true,
                Instant.now(),
                List.of(new AgentRecord.ServiceRecord("web", "http", "http://127.0.0.1:80", 0))));
        r1.flush();
        assertThat(query("SELECT count(*) FROM agents WHERE route_digest LIKE '%" + routeToken + "%'"))
                .as("the token itself is never stored")
                .isEqualTo("0");
        r2.reload();
        assertThat(tokens2.agentFor(routeToken)).contains("web-agent");
        assertThat(tokens2.agentFor("another-token-0123456789")).isEmpty();
        r2.removeAgent("web-agent");
        r2.flush();
        assertThat(query("SELECT count(*) FROM agents WHERE name = 'web-agent' AND deleted_at IS NULL"))
                .as("r2 may not forget an agent r1 serves")
                .isEqualTo("1");
    }

    @Test
    void aDatabaseOutageRefusesNewGrantsOnlyAndTheWritesFollowWhenItIsBack() throws Exception {
        PostgresExposeStore r1 = store("r1");
        ServiceKey known = new ServiceKey("t5", "steady", "ssh");
        assertThat(acquire(r1, known, 0, 14000, 14009).lease()).isPresent();
        r1.disconnect(known, Instant.now().plusSeconds(600));
        r1.flush();
        postgres.stopServer();
        try {
            r1.flush(); // a pending write fails: the store knows the database is down
            r1.putAgent(agent("steady", "t5", 14000));
            r1.flush();
            assertThat(r1.available()).isFalse();
            ExposeStore.Claim fresh = acquire(r1, new ServiceKey("t5", "newcomer", "ssh"), 0, 14000, 14009);
            assertThat(fresh.refusal()).contains(ExposeStore.Refusal.UNAVAILABLE);
            assertThat(fresh.detail())
                    .contains("unreachable")
                    .contains("no new public ports now")
                    .doesNotContain("password");
            assertThat(acquire(r1, known, 0, 14000, 14009).lease())
                    .as("a known identity reconnecting keeps its port")
                    .map(Lease::port)
                    .contains(14000);
            // the write-behind is bounded: past its limit no new grants, and nothing already pending is lost
            for (int i = 0; i < PostgresExposeStore.MAX_PENDING; i++) {
                r1.putAgent(agent("crowd-" + i, "t6", 0).withConnected(false, Instant.now()));
            }
            ExposeStore.Claim full = acquire(r1, new ServiceKey("t5", "late", "ssh"), 0, 14000, 14009);
            assertThat(full.detail()).contains("writes behind");
            for (int i = 0; i < PostgresExposeStore.MAX_PENDING; i++) {
                r1.removeAgent("crowd-" + i);
            }
        } finally {
            postgres.startServer();
        }
        // meanwhile another replica called r1 offline: r1 writes its agents and live leases again once it is back
        exec("UPDATE port_leases SET expires_at = now() + interval '1 minute' WHERE port = 14000");
        r1.flush();
        r1.flush();
        assertThat(r1.available()).isTrue();
        assertThat(query("SELECT owner_replica || ' ' || (expires_at IS NULL) FROM port_leases WHERE port = 14000"))
                .isEqualTo("r1 true");
        assertThat(query("SELECT count(*) FROM agents WHERE name = 'steady' AND disconnected_at IS NULL"))
                .isEqualTo("1");
        assertThat(acquire(r1, new ServiceKey("t5", "newcomer", "ssh"), 0, 14000, 14009)
                        .lease())
                .map(Lease::port)
                .contains(14001);
        assertThat(Optional.ofNullable(query("SELECT count(*) FROM agents WHERE name LIKE 'crowd-%'")))
                .contains("0");
    }
}
