package dev.splitstream.exit.expose;

import static dev.splitstream.exit.registry.PostgresRegistry.clip;
import static dev.splitstream.exit.registry.PostgresRegistry.describe;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.jboss.logging.Logger;

/**
 * The expose state of replicas, in PostgreSQL, without ever making the event loop wait for the database:
 *
 * <ul>
 *   <li>every replica keeps the whole state (leases, agents, their owners and route digests) in memory, and answers
 *       every read from it;
 *   <li>its own changes (an agent connected, disconnected, released; a lease renewed by its holder) change that view at
 *       once and are written behind, coalesced per lease and per agent, by one {@code splitstream-expose-store} thread;
 *   <li>a lease for an identity that holds none here, or for another port, is decided in the database (one lease per
 *       port, one per identity), off the event loop: the caller gets a future;
 *   <li>other replicas' changes are imported on their notification (the registry's LISTEN channel) and every
 *       {@value #RELOAD_EVERY_MS} ms, which also starts the countdown of leases whose owner replica went offline.
 * </ul>
 *
 * A database outage means no new grants (refused with UNAVAILABLE, saying so); agents reconnecting for the ports they
 * hold get them from the view, and bound ports stay up. Writes wait (coalesced) and are sent when it is back. The
 * pending writes are bounded by {@value #MAX_PENDING} leases and agents: past it, new grants are refused, while updates
 * of entries already pending still coalesce, so nothing already granted is lost.
 */
public final class PostgresExposeStore implements ExposeStore {
    private static final Logger LOG = Logger.getLogger(PostgresExposeStore.class);
    static final int MAX_PENDING = 10_000;
    static final long FLUSH_EVERY_MS = 200;
    static final long RELOAD_EVERY_MS = 2_000;
    /** pg_notify payload prefix on the registry's channel. */
    public static final String NOTE_PREFIX = "expose ";

    private static final String CHANNEL = "splitstream_registry";

    private final DataSource db;
    private final String replica;
    private final Duration lease;
    private final Duration offlineAfter;
    private final RouteTokens routeTokens;
    private final ScheduledExecutorService worker;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final AtomicBoolean reloadQueued = new AtomicBoolean();

    // The view, under this object's lock.
    private MemoryExposeStore view = new MemoryExposeStore();
    private Map<String, String> ownerByAgent = new HashMap<>();
    /** Writes not yet in the database: a lease (renewed, disconnected) or empty (released). */
    private final Map<ServiceKey, Optional<Lease>> pendingLeases = new LinkedHashMap<>();
    /** Writes not yet in the database: an agent or empty (forgotten). */
    private final Map<String, Optional<AgentRecord>> pendingAgents = new LinkedHashMap<>();

    private volatile boolean available;
    private volatile String detail = "not loaded yet";
    /** Since when the database answers without a failure (replicas' heartbeats are meaningful after a while). */
    private volatile Instant availableSince = Instant.MAX;

    public PostgresExposeStore(
            DataSource db, String replica, Duration lease, Duration offlineAfter, RouteTokens routeTokens) {
        this.db = db;
        this.replica = replica;
        this.lease = lease;
        this.offlineAfter = offlineAfter;
        this.routeTokens = routeTokens;
        this.worker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "splitstream-expose-store");
            t.setDaemon(true);
            return t;
        });
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    public void start() {
        worker.execute(this::reload);
        worker.scheduleWithFixedDelay(this::flush, FLUSH_EVERY_MS, FLUSH_EVERY_MS, TimeUnit.MILLISECONDS);
        worker.scheduleWithFixedDelay(this::maintain, RELOAD_EVERY_MS, RELOAD_EVERY_MS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void stop() {
        try {
            worker.submit(this::flush).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warnf("expose store: final write did not complete: %s", describe(e));
        }
        worker.shutdownNow();
    }

    /** Another replica changed the shared state (its notification): import it soon, once for a burst. */
    public void changed() {
        if (reloadQueued.compareAndSet(false, true)) {
            try {
                worker.execute(() -> {
                    reloadQueued.set(false);
                    reload();
                });
            } catch (RejectedExecutionException e) {
                reloadQueued.set(false);
            }
        }
    }

    /** True while the last database call succeeded. */
    public boolean available() {
        return available;
    }

    @Override
    public boolean shared() {
        return true;
    }

    @Override
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    // ---------------------------------------------------------------- reads: the view

    @Override
    public synchronized Optional<Lease> lease(ServiceKey key) {
        return view.lease(key);
    }

    @Override
    public synchronized List<Lease> leases() {
        return view.leases();
    }

    @Override
    public synchronized Optional<AgentRecord> agent(String name) {
        return view.agent(name);
    }

    @Override
    public synchronized List<AgentRecord> agents() {
        return view.agents();
    }

    @Override
    public synchronized Optional<String> remoteOwner(String agent) {
        String owner = ownerByAgent.get(agent);
        boolean connected = view.agent(agent).map(AgentRecord::connected).orElse(false);
        return connected && owner != null && !owner.equals(replica) ? Optional.of(owner) : Optional.empty();
    }

    // ---------------------------------------------------------------- writes: the view now, the database behind

    /** Only a lease this replica's view holds for {@code key}, on the same port: the view's decision. */
    @Override
    public synchronized Claim claim(ServiceKey key, int requested, int low, int high, Set<Integer> avoid, Instant now) {
        Optional<Lease> own = view.lease(key);
        if (own.isPresent()
                && !own.get().expiredAt(now)
                && (requested == 0 || requested == own.get().port())) {
            Lease renewed = new Lease(key, own.get().port(), Optional.empty());
            view.force(renewed);
            pendingLeases.put(key, Optional.of(renewed));
            return Claim.granted(renewed);
        }
        return Claim.unavailable("the lease must be decided by the registry database");
    }

    @Override
    public Future<Claim> acquire(ServiceKey key, int requested, int low, int high, Set<Integer> avoid, Instant now) {
        Claim local = claim(key, requested, low, high, avoid, now);
        if (local.lease().isPresent()) {
            return Future.succeededFuture(local);
        }
        synchronized (this) {
            if (pendingLeases.size() + pendingAgents.size() >= MAX_PENDING) {
                return Future.succeededFuture(Claim.unavailable("the registry is " + MAX_PENDING
                        + " writes behind (database slow or down): no new public ports" + " now"));
            }
        }
        if (!available) {
            return Future.succeededFuture(Claim.unavailable("the registry database is unreachable (" + detail
                    + "): no new public ports now; ports already leased stay"));
        }
        Context context = Vertx.currentContext();
        Promise<Claim> promise = Promise.promise();
        try {
            worker.execute(() -> {
                Claim c = decide(key, requested, low, high, avoid, now);
                if (context != null) {
                    context.runOnContext(v -> promise.complete(c));
                } else {
                    promise.complete(c);
                }
            });
        } catch (RejectedExecutionException e) {
            return Future.succeededFuture(Claim.unavailable("the registry is stopping"));
        }
        return promise.future();
    }

    @Override
    public synchronized void disconnect(ServiceKey key, Instant expires) {
        view.disconnect(key, expires);
        view.lease(key).ifPresent(l -> pendingLeases.put(key, Optional.of(l)));
    }

    @Override
    public synchronized Optional<Lease> release(ServiceKey key) {
        Optional<Lease> l = view.release(key);
        if (l.isPresent()) {
            pendingLeases.put(key, Optional.empty());
        }
        return l;
    }

    /** Leases run out in the view; the database forgets them on its own ({@link #maintain}). */
    @Override
    public synchronized List<Lease> expire(Instant now) {
        return view.expire(now);
    }

    @Override
    public synchronized void putAgent(AgentRecord agent) {
        view.putAgent(agent);
        if (agent.connected()) {
            ownerByAgent.put(agent.name(), replica);
        }
        pendingAgents.put(agent.name(), Optional.of(agent));
    }

    @Override
    public synchronized void removeAgent(String name) {
        view.removeAgent(name);
        pendingAgents.put(name, Optional.empty());
    }

    // ---------------------------------------------------------------- the worker thread

    /** A new lease, decided in one transaction (the same rules as {@link MemoryExposeStore#claim}). */
    private Claim decide(ServiceKey key, int requested, int low, int high, Set<Integer> avoid, Instant now) {
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false);
            try {
                Claim claim = decide(c, key, requested, low, high, avoid, now);
                c.commit();
                succeeded();
                claim.lease().ifPresent(granted -> {
                    synchronized (this) {
                        view.force(granted);
                        pendingLeases.remove(key);
                    }
                });
                if (claim.lease().isPresent()) {
                    notifyOthers(c);
                }
                return claim;
            } catch (SQLException e) {
                c.rollback();
                if ("23505".equals(e.getSQLState())) {
                    return Claim.unavailable("another replica granted a port to this service at the same time; retry");
                }
                throw e;
            }
        } catch (SQLException | RuntimeException e) {
            failed(e);
            return Claim.unavailable("the registry database is unreachable (" + describe(e)
                    + "): no new public ports now; ports already leased stay");
        }
    }

    private Claim decide(
            Connection c, ServiceKey key, int requested, int low, int high, Set<Integer> avoid, Instant now)
            throws SQLException {
        Integer own = null;
        try (PreparedStatement st = c.prepareStatement(
                "SELECT port FROM port_leases WHERE token_id = ? AND agent = ? AND service = ? FOR UPDATE")) {
            bindKey(st, 1, key);
            try (ResultSet rs = st.executeQuery()) {
                if (rs.next()) {
                    own = rs.getInt(1);
                }
            }
        }
        if (own != null && (requested == 0 || requested == own)) {
            try (PreparedStatement st =
                    c.prepareStatement("UPDATE port_leases SET expires_at = NULL, owner_replica = ? WHERE port = ?")) {
                st.setString(1, replica);
                st.setInt(2, own);
                st.executeUpdate();
            }
            return Claim.granted(new Lease(key, own, Optional.empty()));
        }
        if (requested != 0) {
            try (PreparedStatement st = c.prepareStatement(
                    "SELECT token_id, agent, service, expires_at" + " FROM port_leases WHERE port = ? FOR UPDATE")) {
                st.setInt(1, requested);
                try (ResultSet rs = st.executeQuery()) {
                    if (rs.next()) {
                        ServiceKey holder = new ServiceKey(rs.getString(1), rs.getString(2), rs.getString(3));
                        Timestamp expires = rs.getTimestamp(4);
                        boolean live = expires == null || expires.toInstant().isAfter(now);
                        if (!holder.equals(key) && live) {
                            return Claim.refused(Refusal.PORT_TAKEN, holder);
                        }
                    }
                }
            }
            try (PreparedStatement st = c.prepareStatement(
                    "DELETE FROM port_leases WHERE port = ?" + " OR (token_id = ? AND agent = ? AND service = ?)")) {
                st.setInt(1, requested);
                bindKey(st, 2, key);
                st.executeUpdate();
            }
            insert(c, key, requested, false);
            return Claim.granted(new Lease(key, requested, Optional.empty()));
        }
        List<Integer> candidates = new ArrayList<>();
        try (PreparedStatement st = c.prepareStatement("SELECT p FROM generate_series(?, ?) AS p WHERE NOT EXISTS"
                + " (SELECT 1 FROM port_leases l WHERE l.port = p AND (l.expires_at IS NULL OR l.expires_at > ?))"
                + " ORDER BY p LIMIT ?")) {
            st.setInt(1, low);
            st.setInt(2, high);
            st.setTimestamp(3, Timestamp.from(now));
            st.setInt(4, 32 + avoid.size());
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    if (!avoid.contains(rs.getInt(1))) {
                        candidates.add(rs.getInt(1));
                    }
                }
            }
        }
        for (int port : candidates) {
            try (PreparedStatement st = c.prepareStatement(
                    "DELETE FROM port_leases WHERE port = ? AND expires_at IS NOT NULL AND expires_at <= ?")) {
                st.setInt(1, port);
                st.setTimestamp(2, Timestamp.from(now));
                st.executeUpdate();
            }
            if (insert(c, key, port, true)) {
                return Claim.granted(new Lease(key, port, Optional.empty()));
            }
        }
        return Claim.refused(Refusal.RANGE_FULL, null);
    }

    private boolean insert(Connection c, ServiceKey key, int port, boolean ifFree) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("INSERT INTO port_leases"
                + " (port, identity, token_id, agent, service, owner_replica, expires_at)"
                + " VALUES (?, ?, ?, ?, ?, ?, NULL)" + (ifFree ? " ON CONFLICT (port) DO NOTHING" : ""))) {
            st.setInt(1, port);
            st.setString(2, clip(key.toString(), 256));
            bindKey(st, 3, key);
            st.setString(6, replica);
            return st.executeUpdate() == 1;
        }
    }

    private static void bindKey(PreparedStatement st, int at, ServiceKey key) throws SQLException {
        st.setString(at, key.tokenId());
        st.setString(at + 1, key.agent());
        st.setString(at + 2, key.service());
    }

    /** Writes what is pending, each entry in its own short transaction (one conflict never blocks the others). */
    void flush() {
        Map<ServiceKey, Optional<Lease>> leases;
        Map<String, Optional<AgentRecord>> agents;
        Map<String, String> digests = new HashMap<>();
        synchronized (this) {
            if (pendingLeases.isEmpty() && pendingAgents.isEmpty()) {
                return;
            }
            leases = new LinkedHashMap<>(pendingLeases);
            agents = new LinkedHashMap<>(pendingAgents);
        }
        agents.keySet().forEach(a -> routeTokens.digestOf(a).ifPresent(d -> digests.put(a, d)));
        boolean conflicts = false;
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false);
            for (Map.Entry<String, Optional<AgentRecord>> e : agents.entrySet()) {
                writeAgent(c, e.getKey(), e.getValue(), digests.get(e.getKey()));
                c.commit();
                synchronized (this) {
                    pendingAgents.remove(e.getKey(), e.getValue());
                }
            }
            for (Map.Entry<ServiceKey, Optional<Lease>> e : leases.entrySet()) {
                conflicts |= !writeLease(c, e.getKey(), e.getValue());
                c.commit();
                synchronized (this) {
                    pendingLeases.remove(e.getKey(), e.getValue());
                }
            }
            notifyOthers(c);
            c.commit();
            succeeded();
        } catch (SQLException | RuntimeException e) {
            failed(e);
            return;
        }
        if (conflicts) {
            // Another replica holds what this one wrote (an agent moved on): take the database's word for it.
            reload();
        }
    }

    private void writeAgent(Connection c, String name, Optional<AgentRecord> record, String digest)
            throws SQLException {
        if (record.isEmpty()) {
            // Forgotten here: only when no replica serves it, or this one does.
            try (PreparedStatement st = c.prepareStatement("UPDATE agents SET deleted_at = now() WHERE name = ?"
                    + " AND deleted_at IS NULL AND (disconnected_at IS NOT NULL OR owner_replica = ?)")) {
                st.setString(1, name);
                st.setString(2, replica);
                st.executeUpdate();
            }
            return;
        }
        AgentRecord a = record.get();
        if (!a.connected()) {
            // An old session ended here: it says nothing if the agent is connected to another replica by now.
            try (PreparedStatement st = c.prepareStatement("UPDATE agents SET disconnected_at = ?, last_seen = ?"
                    + " WHERE name = ? AND deleted_at IS NULL AND owner_replica = ?")) {
                st.setTimestamp(1, Timestamp.from(a.lastSeen()));
                st.setTimestamp(2, Timestamp.from(a.lastSeen()));
                st.setString(3, name);
                st.setString(4, replica);
                st.executeUpdate();
            }
            return;
        }
        long id;
        try (PreparedStatement st = c.prepareStatement("INSERT INTO agents"
                + " (name, token_id, owner_replica, first_connected, last_seen, disconnected_at, route_digest)"
                + " VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (name) WHERE deleted_at IS NULL DO UPDATE SET"
                + " token_id = EXCLUDED.token_id, owner_replica = EXCLUDED.owner_replica,"
                + " last_seen = EXCLUDED.last_seen, disconnected_at = NULL, route_digest = EXCLUDED.route_digest"
                + " RETURNING id")) {
            st.setString(1, name);
            st.setString(2, a.tokenId());
            st.setString(3, replica);
            st.setTimestamp(4, Timestamp.from(a.lastSeen()));
            st.setTimestamp(5, Timestamp.from(a.lastSeen()));
            if (digest == null) {
                st.setNull(6, Types.VARCHAR);
            } else {
                st.setString(6, digest);
            }
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                id = rs.getLong(1);
            }
        }
        try (PreparedStatement st = c.prepareStatement("DELETE FROM services WHERE agent_id = ?")) {
            st.setLong(1, id);
            st.executeUpdate();
        }
        try (PreparedStatement st = c.prepareStatement(
                "INSERT INTO services (agent_id, name, kind, target, public_port) VALUES (?, ?, ?, ?, ?)")) {
            for (AgentRecord.ServiceRecord s : a.services()) {
                st.setLong(1, id);
                st.setString(2, s.name());
                st.setString(3, s.kind());
                st.setString(4, clip(s.target(), 512));
                if (s.publicPort() > 0) {
                    st.setInt(5, s.publicPort());
                } else {
                    st.setNull(5, Types.INTEGER);
                }
                st.addBatch();
            }
            st.executeBatch();
        }
    }

    /** False when the database holds something else for this lease (another identity, another owner). */
    private boolean writeLease(Connection c, ServiceKey key, Optional<Lease> lease) throws SQLException {
        if (lease.isEmpty()) {
            try (PreparedStatement st =
                    c.prepareStatement("DELETE FROM port_leases WHERE token_id = ? AND agent = ? AND service = ?")) {
                bindKey(st, 1, key);
                st.executeUpdate();
            }
            return true;
        }
        Lease l = lease.get();
        if (l.expires().isEmpty()) {
            // The holder is connected here: its lease is this replica's, on this port.
            try (PreparedStatement st = c.prepareStatement(
                    "DELETE FROM port_leases" + " WHERE token_id = ? AND agent = ? AND service = ? AND port <> ?")) {
                bindKey(st, 1, key);
                st.setInt(4, l.port());
                st.executeUpdate();
            }
        }
        try (PreparedStatement st = c.prepareStatement("INSERT INTO port_leases"
                + " (port, identity, token_id, agent, service, owner_replica, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                + " ON CONFLICT (port) DO UPDATE SET owner_replica = EXCLUDED.owner_replica,"
                + " expires_at = EXCLUDED.expires_at WHERE port_leases.token_id = EXCLUDED.token_id"
                + " AND port_leases.agent = EXCLUDED.agent AND port_leases.service = EXCLUDED.service"
                + " AND (EXCLUDED.expires_at IS NULL OR port_leases.owner_replica IS NULL"
                + " OR port_leases.owner_replica = EXCLUDED.owner_replica)")) {
            st.setInt(1, l.port());
            st.setString(2, clip(key.toString(), 256));
            bindKey(st, 3, key);
            st.setString(6, replica);
            if (l.expires().isPresent()) {
                st.setTimestamp(7, Timestamp.from(l.expires().get()));
            } else {
                st.setNull(7, Types.TIMESTAMP_WITH_TIMEZONE);
            }
            if (st.executeUpdate() == 1) {
                return true;
            }
        } catch (SQLException e) {
            if (!"23505".equals(e.getSQLState())) {
                throw e;
            }
            c.rollback();
        }
        LOG.warnf(
                "expose store: the lease of port %d by %s is held elsewhere now; taking the registry's view",
                l.port(), key);
        return false;
    }

    /** Starts the countdown of leases and agents whose replica went offline, drops expired leases, re-imports. */
    void maintain() {
        // Right after an outage every replica's heartbeat is old: give them time to beat before calling any offline.
        boolean judge = available && Instant.now().isAfter(availableSince.plus(offlineAfter.multipliedBy(2)));
        try (Connection c = db.getConnection()) {
            String live = "SELECT id FROM replicas WHERE stopped_at IS NULL"
                    + " AND heartbeat > now() - make_interval(secs => ?)";
            int changed = 0;
            if (judge) {
                try (PreparedStatement st = c.prepareStatement("UPDATE port_leases SET expires_at = now()"
                        + " + make_interval(secs => ?) WHERE expires_at IS NULL"
                        + " AND (owner_replica IS NULL OR owner_replica NOT IN (" + live + "))")) {
                    st.setDouble(1, lease.toMillis() / 1000.0);
                    st.setDouble(2, offlineAfter.toMillis() / 1000.0);
                    changed += st.executeUpdate();
                }
                try (PreparedStatement st = c.prepareStatement("UPDATE agents SET disconnected_at = now()"
                        + " WHERE disconnected_at IS NULL AND deleted_at IS NULL"
                        + " AND (owner_replica IS NULL OR owner_replica NOT IN (" + live + "))")) {
                    st.setDouble(1, offlineAfter.toMillis() / 1000.0);
                    changed += st.executeUpdate();
                }
            }
            try (PreparedStatement st = c.prepareStatement("DELETE FROM port_leases WHERE expires_at <= now()")) {
                changed += st.executeUpdate();
            }
            if (changed > 0) {
                LOG.infof("expose store: %d leases or agents of offline replicas (or expired) updated", changed);
                notifyOthers(c);
            }
            succeeded();
        } catch (SQLException | RuntimeException e) {
            failed(e);
            return;
        }
        reload();
    }

    /** Reads the shared state and makes it the view, keeping this replica's writes that are still pending. */
    void reload() {
        List<Lease> leases = new ArrayList<>();
        Map<ServiceKey, String> leaseOwners = new HashMap<>();
        Map<String, AgentRecord> agents = new LinkedHashMap<>();
        Map<String, String> owners = new HashMap<>();
        Map<String, String> digests = new HashMap<>();
        try (Connection c = db.getConnection()) {
            try (PreparedStatement st = c.prepareStatement("SELECT token_id, agent, service, port, expires_at,"
                            + " owner_replica FROM port_leases WHERE expires_at IS NULL OR expires_at > now()");
                    ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    ServiceKey key = new ServiceKey(rs.getString(1), rs.getString(2), rs.getString(3));
                    Timestamp expires = rs.getTimestamp(5);
                    leases.add(new Lease(
                            key, rs.getInt(4), Optional.ofNullable(expires).map(Timestamp::toInstant)));
                    leaseOwners.put(key, rs.getString(6));
                }
            }
            Map<Long, List<AgentRecord.ServiceRecord>> services = new HashMap<>();
            try (PreparedStatement st = c.prepareStatement("SELECT s.agent_id, s.name, s.kind, s.target, s.public_port"
                            + " FROM services s JOIN agents a ON a.id = s.agent_id WHERE a.deleted_at IS NULL"
                            + " ORDER BY s.id");
                    ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    services.computeIfAbsent(rs.getLong(1), k -> new ArrayList<>())
                            .add(new AgentRecord.ServiceRecord(
                                    rs.getString(2), rs.getString(3), rs.getString(4), rs.getInt(5)));
                }
            }
            try (PreparedStatement st = c.prepareStatement("SELECT id, name, token_id, owner_replica, last_seen,"
                            + " disconnected_at IS NULL, route_digest FROM agents WHERE deleted_at IS NULL");
                    ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    String name = rs.getString(2);
                    agents.put(
                            name,
                            new AgentRecord(
                                    name,
                                    rs.getString(3),
                                    rs.getBoolean(6),
                                    rs.getTimestamp(5).toInstant(),
                                    List.copyOf(services.getOrDefault(rs.getLong(1), List.of()))));
                    if (rs.getString(4) != null) {
                        owners.put(name, rs.getString(4));
                    }
                    if (rs.getString(7) != null) {
                        digests.put(name, rs.getString(7));
                    }
                }
            }
            succeeded();
        } catch (SQLException | RuntimeException e) {
            failed(e);
            return;
        }
        boolean changed;
        Set<String> gone = new HashSet<>();
        synchronized (this) {
            MemoryExposeStore next = new MemoryExposeStore();
            for (Lease l : leases) {
                if (!pendingLeases.containsKey(l.key())) {
                    next.force(l);
                }
            }
            pendingLeases.forEach((k, l) -> l.ifPresent(next::force));
            Map<String, String> nextOwners = new HashMap<>(owners);
            agents.forEach((name, a) -> {
                if (!pendingAgents.containsKey(name)) {
                    next.putAgent(a);
                }
            });
            pendingAgents.forEach((name, a) -> a.ifPresent(next::putAgent));
            for (Map.Entry<String, Optional<AgentRecord>> e : pendingAgents.entrySet()) {
                if (e.getValue().isPresent() && e.getValue().get().connected()) {
                    nextOwners.put(e.getKey(), replica);
                } else if (e.getValue().isPresent() && ownerByAgent.containsKey(e.getKey())) {
                    nextOwners.put(e.getKey(), ownerByAgent.get(e.getKey()));
                }
            }
            changed = !next.leases().equals(view.leases())
                    || !next.agents().equals(view.agents())
                    || !nextOwners.equals(ownerByAgent);
            for (AgentRecord a : view.agents()) {
                if (next.agent(a.name()).isEmpty()) {
                    gone.add(a.name());
                }
            }
            view = next;
            ownerByAgent = nextOwners;
            // Route tokens of agents served elsewhere; this replica's own agents announced theirs itself.
            for (AgentRecord a : next.agents()) {
                if (!replica.equals(nextOwners.get(a.name())) && !pendingAgents.containsKey(a.name())) {
                    routeTokens.announceDigest(a.name(), digests.get(a.name()));
                }
            }
        }
        gone.forEach(routeTokens::forget);
        if (changed) {
            listeners.forEach(Runnable::run);
        }
    }

    private void notifyOthers(Connection c) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT pg_notify(?, ?)")) {
            st.setString(1, CHANNEL);
            st.setString(2, NOTE_PREFIX + replica);
            st.execute();
        }
    }

    private void succeeded() {
        if (!available) {
            availableSince = Instant.now();
            int again = reassert();
            LOG.infof(
                    "expose store: registry database reachable; %d writes pending (%d of this replica's agents and"
                            + " leases written again)",
                    pendingCount(), again);
        }
        available = true;
        detail = "reachable";
    }

    /**
     * Queues this replica's connected agents and their live leases for writing again: whatever happened to their rows
     * while the database was unreachable (another replica may have called this one offline), they are this replica's.
     */
    private synchronized int reassert() {
        int n = 0;
        for (AgentRecord a : view.agents()) {
            if (a.connected() && replica.equals(ownerByAgent.get(a.name()))) {
                pendingAgents.putIfAbsent(a.name(), Optional.of(a));
                n++;
                for (Lease l : view.leases()) {
                    if (l.key().agent().equals(a.name()) && l.expires().isEmpty()) {
                        pendingLeases.putIfAbsent(l.key(), Optional.of(l));
                        n++;
                    }
                }
            }
        }
        return n;
    }

    private synchronized int pendingCount() {
        return pendingLeases.size() + pendingAgents.size();
    }

    private void failed(Exception e) {
        String why = describe(e);
        if (available) {
            LOG.warnf(
                    "expose store: registry database unreachable (%s): no new public ports until it is back; bound"
                            + " ports and connected agents carry on",
                    why);
        }
        available = false;
        detail = why;
    }

    @Override
    public String toString() {
        return "PostgresExposeStore[replica " + replica + ", " + (available ? "reachable" : detail) + "]";
    }
}
