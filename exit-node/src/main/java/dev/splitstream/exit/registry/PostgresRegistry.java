package dev.splitstream.exit.registry;

import io.agroal.api.AgroalDataSource;
import io.quarkus.hibernate.orm.panache.Panache;
import io.quarkus.narayana.jta.QuarkusTransaction;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.net.URI;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * The registry of exit replicas in PostgreSQL. Nothing on a session's data path waits for it:
 *
 * <ul>
 *   <li>writes (sessions opened and closed, audit events) are queued in bounded, coalescing structures and written in
 *       batches by one {@code splitstream-registry} thread, which also heart-beats this replica (and moves its flush
 *       watermark);
 *   <li>a {@code splitstream-registry-pulse} thread only keeps the heartbeat fresh, so that a slow batch write (a
 *       loaded database) never makes the other replicas take this one for dead and refuse its sessions' legs;
 *   <li>hand-off look-ups ({@link #ownerOf}) run on two {@code splitstream-registry-lookup} threads with a bounded
 *       queue, and answer UNAVAILABLE instead of waiting when the database is down;
 *   <li>a {@code splitstream-registry-listen} thread LISTENs on {@value #CHANNEL} (before this replica announces
 *       itself, so no announcement is missed) and refreshes the known replicas when one starts or stops.
 * </ul>
 *
 * A database outage stops hand-offs (look-ups answer UNAVAILABLE) and delays writes (kept, bounded, retried); live
 * sessions on their owner never notice. Once the database answers again, this replica re-registers its sessions.
 */
public final class PostgresRegistry implements ExitRegistry {
    private static final Logger LOG = Logger.getLogger(PostgresRegistry.class);
    static final String CHANNEL = "splitstream_registry";
    /** Most audit events waiting for the database; past it the oldest are dropped (and counted). */
    static final int AUDIT_QUEUE = 20_000;

    private static final int AUDIT_BATCH = 500;
    private static final int RECENT_KEPT = 1000;
    private static final Duration FLUSH_EVERY = Duration.ofMillis(200);
    /**
     * A look-up that finds no row gives a replica without a flush watermark yet (NULL: it has not flushed since the
     * column came, or runs an older version) this long to write the row, as every replica was given before watermarks.
     */
    private static final Duration LEGACY_GRACE = Duration.ofMillis(1500);
    /** A look-up waits for lagging replicas at most replica-offline-after plus this (a dead one is offline by then). */
    private static final Duration LAGGING_MARGIN = Duration.ofSeconds(5);
    /** Interval at which a waiting look-up reads the rows and watermarks again. */
    private static final long LOOKUP_POLL_MS = 50;
    /** Notification payload prefix: the replica named asks every other one to flush now (its watermark lags). */
    static final String FLUSH_PREFIX = "flush ";

    private final RegistrySettings settings;
    private final AgroalDataSource dataSource;
    private final ScheduledExecutorService writer;
    private final ScheduledExecutorService pulse;
    private final ThreadPoolExecutor lookups;
    private final Thread listener;
    private final CountDownLatch listening = new CountDownLatch(1);
    private volatile boolean running = true;

    /** Sessions this replica holds: re-registered when the database comes back. */
    private final ConcurrentHashMap<String, SessionInfo> local = new ConcurrentHashMap<>();
    /** Writes waiting for the next flush; coalesced by session id. */
    private final ConcurrentHashMap<String, SessionInfo> pendingOpen = new ConcurrentHashMap<>();

    private final ConcurrentHashMap<String, Boolean> pendingClose = new ConcurrentHashMap<>();
    private final ArrayBlockingQueue<AuditEvent> pendingAudit = new ArrayBlockingQueue<>(AUDIT_QUEUE);
    /** A batch of audit events whose write failed, retried before any newer ones (writer thread only). */
    private final List<AuditEvent> retryAudit = new ArrayList<>();

    private final ArrayDeque<AuditEvent> recent = new ArrayDeque<>();
    private final AtomicLong auditDropped = new AtomicLong();
    /** Dropped audit events are logged at most once a minute ({@link System#nanoTime} of the next line). */
    private volatile long nextDropLog = System.nanoTime();

    private static final long DROP_LOG_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);
    private static final java.util.concurrent.atomic.AtomicLongFieldUpdater<PostgresRegistry> DROP_LOG =
            java.util.concurrent.atomic.AtomicLongFieldUpdater.newUpdater(PostgresRegistry.class, "nextDropLog");
    private final java.util.concurrent.atomic.AtomicBoolean flushQueued =
            new java.util.concurrent.atomic.AtomicBoolean();
    /** A flush another replica asked for is queued (several requests in a burst make one flush). */
    private final java.util.concurrent.atomic.AtomicBoolean flushAsked =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** Live replicas by id (refreshed on heartbeat and on notification). */
    private volatile Map<String, URI> replicas = Map.of();

    private volatile boolean available;
    private final List<java.util.function.Consumer<String>> subscribers =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile String detail = "connecting";
    private volatile Instant downSince = Instant.now();

    public PostgresRegistry(RegistrySettings settings, AgroalDataSource dataSource) {
        this.settings = settings;
        this.dataSource = dataSource;
        this.writer = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "splitstream-registry"));
        this.pulse = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "splitstream-registry-pulse"));
        this.lookups = new ThreadPoolExecutor(
                2,
                2,
                30,
                TimeUnit.SECONDS,
                new java.util.concurrent.ArrayBlockingQueue<>(256),
                r -> daemon(r, "splitstream-registry-lookup"));
        this.listener = daemon(this::listen, "splitstream-registry-listen");
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    @Override
    public String replicaId() {
        return settings.replicaId();
    }

    @Override
    public boolean clustered() {
        return true;
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    public void start() {
        listener.start();
        try {
            // Subscribe before publishing: this replica's own announcement and the others' answers are not missed.
            if (!listening.await(10, TimeUnit.SECONDS)) {
                LOG.warn("registry: LISTEN not established within 10s; carrying on, notifications may be late");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        writer.execute(this::heartbeat);
        long hb = settings.heartbeatInterval().toMillis();
        writer.scheduleWithFixedDelay(this::heartbeat, hb, hb, TimeUnit.MILLISECONDS);
        pulse.scheduleWithFixedDelay(this::pulse, hb, hb, TimeUnit.MILLISECONDS);
        long flush = FLUSH_EVERY.toMillis();
        writer.scheduleWithFixedDelay(this::flush, flush, flush, TimeUnit.MILLISECONDS);
        writer.scheduleWithFixedDelay(this::cleanUp, 5, 600, TimeUnit.SECONDS);
        LOG.infof(
                "registry: postgres, replica %s at %s (heartbeat %s, offline after %s)",
                settings.replicaId(), settings.replicaUrl(), settings.heartbeatInterval(), settings.offlineAfter());
    }

    @Override
    public void stop() {
        running = false;
        pulse.shutdownNow();
        try {
            writer.submit(() -> {
                        flush();
                        markStopped();
                    })
                    .get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warnf("registry: final write did not complete: %s", e.toString());
        }
        writer.shutdownNow();
        lookups.shutdownNow();
        listener.interrupt();
    }

    // ---------------------------------------------------------------- writes (any thread, never blocking)

    @Override
    public void sessionOpened(SessionInfo session) {
        local.put(session.sessionId(), session);
        pendingClose.remove(session.sessionId());
        pendingOpen.put(session.sessionId(), session);
        // A split path's second leg may reach another replica right away: write the owner without waiting a period,
        // in one batch with whatever else opened while a flush was queued.
        if (flushQueued.compareAndSet(false, true)) {
            writer.execute(() -> {
                flushQueued.set(false);
                flush();
            });
        }
    }

    @Override
    public void sessionClosed(String sessionId) {
        local.remove(sessionId);
        pendingOpen.remove(sessionId);
        pendingClose.put(sessionId, Boolean.TRUE);
    }

    @Override
    public void audit(AuditEvent event) {
        synchronized (recent) {
            if (recent.size() >= RECENT_KEPT) {
                recent.removeFirst();
            }
            recent.addLast(event);
        }
        while (!pendingAudit.offer(event)) {
            if (pendingAudit.poll() != null) {
                long dropped = auditDropped.incrementAndGet();
                long now = System.nanoTime();
                long next = nextDropLog;
                if (now - next >= 0 && DROP_LOG.compareAndSet(this, next, now + DROP_LOG_EVERY_NANOS)) {
                    LOG.warnf(
                            "registry: audit queue full (%d events wait for the database): the oldest are dropped, %d"
                                    + " so far (splitstream_exit_audit_dropped_total)",
                            AUDIT_QUEUE, dropped);
                }
            }
        }
    }

    @Override
    public List<AuditEvent> recentAudit(int max) {
        synchronized (recent) {
            List<AuditEvent> all = new ArrayList<>(recent);
            return all.subList(Math.max(0, all.size() - max), all.size());
        }
    }

    /** Audit events dropped because the database was unreachable for long (the queue holds {@value #AUDIT_QUEUE}). */
    @Override
    public long auditDropped() {
        return auditDropped.get();
    }

    /**
     * Calls {@code subscriber} with the payload of every notification on {@value #CHANNEL} (on the listening thread;
     * it must not block). Subscribe before {@link #start}, so nothing published after start-up is missed.
     */
    public void subscribe(java.util.function.Consumer<String> subscriber) {
        subscribers.add(subscriber);
    }

    @Override
    public Status status() {
        if (available) {
            return new Status(
                    true,
                    "postgres: reachable, replica " + settings.replicaId() + ", " + replicas.size()
                            + " live replica(s)");
        }
        return new Status(
                false,
                "postgres: unreachable since " + downSince + " (" + detail
                        + "); degraded: no new hand-offs between replicas and no new public ports; live sessions"
                        + " carry on");
    }

    // ---------------------------------------------------------------- look-ups

    @Override
    public Future<OwnerLookup> ownerOf(String sessionId) {
        return onLookupThread(() -> lookUpOwner(sessionId));
    }

    @Override
    public Future<OwnerLookup> replica(String replicaId) {
        URI known = replicas.get(replicaId);
        if (known != null) {
            return Future.succeededFuture(new OwnerLookup(OwnerLookup.Kind.OWNER, replicaId, known, null));
        }
        return onLookupThread(() -> lookUpReplica(replicaId));
    }

    private Future<OwnerLookup> onLookupThread(java.util.concurrent.Callable<OwnerLookup> task) {
        if (!available) {
            return Future.succeededFuture(OwnerLookup.unavailable("registry unavailable: " + detail));
        }
        Promise<OwnerLookup> promise = Promise.promise();
        try {
            lookups.execute(() -> {
                try {
                    promise.complete(task.call());
                } catch (Exception e) {
                    failed(e);
                    promise.complete(OwnerLookup.unavailable("registry unavailable: " + describe(e)));
                }
            });
        } catch (RejectedExecutionException e) {
            promise.complete(OwnerLookup.unavailable("too many hand-off look-ups in progress"));
        }
        return promise.future();
    }

    /**
     * The owner of {@code sessionId}. Rows are written behind (batched), so a missing row may only be late: the leg that
     * asks reached this replica after the session was opened on its owner, so once every other live replica's flush
     * watermark has passed the time of this look-up, a row still missing means the session is unknown. Until then the
     * look-up asks them to flush ({@value #FLUSH_PREFIX} notification) and reads again, for at most
     * replica-offline-after plus {@link #LAGGING_MARGIN} (a replica that stopped writing stops heart-beating too, and is
     * offline by then); after that it answers UNAVAILABLE (the leg is refused with GOING_AWAY and retried), naming the
     * replicas that lag.
     */
    private OwnerLookup lookUpOwner(String sessionId) throws SQLException, InterruptedException {
        long started = System.nanoTime();
        Duration bound = settings.offlineAfter().plus(LAGGING_MARGIN);
        try (Connection c = dataSource.getConnection()) {
            java.sql.Timestamp since = null;
            boolean asked = false;
            while (true) {
                OwnerLookup row = sessionRow(c, sessionId);
                if (row != null) {
                    if (asked) {
                        LOG.infof(
                                "registry: session %s found after waiting %d ms for the replicas to write it",
                                sessionId, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
                    }
                    return row;
                }
                if (since == null) {
                    since = databaseNow(c);
                }
                boolean legacyOver = System.nanoTime() - started > LEGACY_GRACE.toNanos();
                List<String> lagging = lagging(c, since, legacyOver);
                if (lagging.isEmpty()) {
                    // every live replica had written what it opened before this look-up: one more read, since a flush
                    // may have committed between the first read and the watermarks
                    row = sessionRow(c, sessionId);
                    if (row != null && asked) {
                        LOG.infof(
                                "registry: session %s found after waiting %d ms for the replicas to write it",
                                sessionId, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
                    }
                    return row != null ? row : OwnerLookup.unknown("no session " + sessionId + " in the registry");
                }
                if (!asked) {
                    notify(c, FLUSH_PREFIX + settings.replicaId());
                    asked = true;
                }
                if (System.nanoTime() - started > bound.toNanos()) {
                    return OwnerLookup.unavailable("replica(s) " + String.join(", ", lagging)
                            + " did not write their sessions up to this look-up within " + bound.toMillis()
                            + " ms; retry");
                }
                Thread.sleep(LOOKUP_POLL_MS);
            }
        }
    }

    /** The answer for {@code sessionId}'s row, or null when there is no row. */
    private OwnerLookup sessionRow(Connection c, String sessionId) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT s.owner_replica, r.url, r.stopped_at IS NULL"
                + " AND r.heartbeat > now() - make_interval(secs => ?) AS online"
                + " FROM sessions s LEFT JOIN replicas r ON r.id = s.owner_replica WHERE s.id = ?")) {
            st.setDouble(1, settings.offlineAfter().toMillis() / 1000.0);
            st.setString(2, sessionId);
            try (ResultSet rs = st.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                String owner = rs.getString(1);
                if (owner.equals(settings.replicaId())) {
                    return OwnerLookup.unknown("session " + sessionId + " is no longer held by its owner");
                }
                if (rs.getString(2) == null || !rs.getBoolean(3)) {
                    return OwnerLookup.unknown(
                            "session " + sessionId + " was owned by replica " + owner + ", which is offline");
                }
                return new OwnerLookup(OwnerLookup.Kind.OWNER, owner, URI.create(rs.getString(2)), null);
            }
        }
    }

    private static java.sql.Timestamp databaseNow(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT now()")) {
            rs.next();
            return rs.getTimestamp(1);
        }
    }

    /**
     * Other live replicas whose flush watermark is before {@code since}; one without a watermark (NULL) only while
     * {@code legacyOver} is false.
     */
    private List<String> lagging(Connection c, java.sql.Timestamp since, boolean legacyOver) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement st = c.prepareStatement("SELECT id FROM replicas WHERE id <> ? AND stopped_at IS NULL"
                + " AND heartbeat > now() - make_interval(secs => ?)"
                + " AND (flushed_through < ? OR (flushed_through IS NULL AND NOT ?)) ORDER BY id")) {
            st.setString(1, settings.replicaId());
            st.setDouble(2, settings.offlineAfter().toMillis() / 1000.0);
            st.setTimestamp(3, since);
            st.setBoolean(4, legacyOver);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    private OwnerLookup lookUpReplica(String replicaId) throws SQLException {
        try (Connection c = dataSource.getConnection();
                PreparedStatement st = c.prepareStatement("SELECT url FROM replicas WHERE id = ? AND stopped_at IS NULL"
                        + " AND heartbeat > now() - make_interval(secs => ?)")) {
            st.setString(1, replicaId);
            st.setDouble(2, settings.offlineAfter().toMillis() / 1000.0);
            try (ResultSet rs = st.executeQuery()) {
                if (rs.next()) {
                    return new OwnerLookup(OwnerLookup.Kind.OWNER, replicaId, URI.create(rs.getString(1)), null);
                }
            }
        }
        return OwnerLookup.unknown("replica " + replicaId + " is offline or unknown");
    }

    /**
     * The heartbeat alone, on its own thread: liveness does not wait behind a slow batch write. The writer's
     * {@link #heartbeat} does the rest (the row's first insert, sessions' last_seen, the idle watermark). Failures
     * are the writer's to report: this one only tries again at the next interval.
     */
    private void pulse() {
        if (!running) {
            return;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement st = c.prepareStatement(
                        "UPDATE replicas SET heartbeat = now() WHERE id = ? AND stopped_at IS NULL")) {
            st.setString(1, settings.replicaId());
            st.executeUpdate();
        } catch (SQLException | RuntimeException e) {
            LOG.debugf("registry: heartbeat not written: %s", e.toString());
        }
    }

    // ---------------------------------------------------------------- writer thread

    private void heartbeat() {
        try (Connection c = dataSource.getConnection()) {
            boolean announce;
            try (PreparedStatement st = c.prepareStatement("INSERT INTO replicas (id, url, started_at, heartbeat)"
                    + " VALUES (?, ?, now(), now()) ON CONFLICT (id) DO UPDATE SET heartbeat = now(),"
                    + " url = EXCLUDED.url, stopped_at = NULL RETURNING (xmax = 0) AS inserted")) {
                st.setString(1, settings.replicaId());
                st.setString(2, settings.replicaUrl().toString());
                try (ResultSet rs = st.executeQuery()) {
                    announce = rs.next() && rs.getBoolean(1);
                }
            }
            try (PreparedStatement st =
                    c.prepareStatement("UPDATE sessions SET last_seen = now() WHERE owner_replica = ?")) {
                st.setString(1, settings.replicaId());
                st.executeUpdate();
            }
            idleWatermark(c);
            if (announce) {
                notify(c, "up " + settings.replicaId());
            }
            refreshReplicas(c);
            succeeded();
        } catch (SQLException | RuntimeException e) {
            failed(e);
        }
    }

    /**
     * Moves the flush watermark on when nothing is queued, so a replica with nothing to write (just started, or idle)
     * never holds look-ups back. On the writer thread: no flush runs meanwhile and a failed one has put back what it
     * took, so an empty queue after the database's {@code now()} means every session opened before it is written (or
     * was closed).
     */
    private void idleWatermark(Connection c) throws SQLException {
        java.sql.Timestamp now = databaseNow(c);
        if (!pendingOpen.isEmpty()) {
            return;
        }
        try (PreparedStatement st = c.prepareStatement("UPDATE replicas SET flushed_through = ? WHERE id = ?"
                + " AND (flushed_through IS NULL OR flushed_through < ?)")) {
            st.setTimestamp(1, now);
            st.setString(2, settings.replicaId());
            st.setTimestamp(3, now);
            st.executeUpdate();
        }
    }

    private void refreshReplicas(Connection c) throws SQLException {
        Map<String, URI> live = new HashMap<>();
        try (PreparedStatement st = c.prepareStatement("SELECT id, url FROM replicas WHERE stopped_at IS NULL"
                + " AND heartbeat > now() - make_interval(secs => ?)")) {
            st.setDouble(1, settings.offlineAfter().toMillis() / 1000.0);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    live.put(rs.getString(1), URI.create(rs.getString(2)));
                }
            }
        }
        if (!live.keySet().equals(replicas.keySet())) {
            LOG.infof("registry: live replicas %s", live.keySet());
        }
        replicas = Map.copyOf(live);
    }

    private void refreshReplicas() {
        try (Connection c = dataSource.getConnection()) {
            refreshReplicas(c);
        } catch (SQLException | RuntimeException e) {
            failed(e);
        }
    }

    private static void notify(Connection c, String payload) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT pg_notify(?, ?)")) {
            st.setString(1, CHANNEL);
            st.setString(2, payload);
            st.execute();
        }
    }

    private void flush() {
        flush(false);
    }

    /** Another replica's look-up waits for this one's watermark: flush now, once for a burst of requests. */
    private void flushAsked() {
        if (flushAsked.compareAndSet(false, true)) {
            writer.execute(() -> {
                flushAsked.set(false);
                flush(true);
            });
        }
    }

    /**
     * Writes what is pending in one transaction, with this replica's flush watermark; {@code always}: also when nothing
     * is pending (the watermark moves on for a look-up that waits for it).
     */
    private void flush(boolean always) {
        if (!always
                && pendingOpen.isEmpty()
                && pendingClose.isEmpty()
                && pendingAudit.isEmpty()
                && retryAudit.isEmpty()) {
            return;
        }
        List<SessionInfo> opens = new ArrayList<>();
        List<String> closes = new ArrayList<>();
        if (retryAudit.isEmpty()) {
            pendingAudit.drainTo(retryAudit, AUDIT_BATCH);
        }
        List<AuditEvent> audits = List.copyOf(retryAudit);
        try {
            QuarkusTransaction.requiringNew().timeout(10).run(() -> {
                // The transaction starts here, before the queue is drained below: its now(), which the watermark takes
                // at the end, is earlier than every session taken, so every session opened before the watermark is
                // in this transaction's rows (or an earlier one's). The replicas row is updated last, so that a slow
                // write holds no lock on it and the pulse thread's heartbeat goes through meanwhile.
                transactionStart();
                for (String id : List.copyOf(pendingOpen.keySet())) {
                    SessionInfo s = pendingOpen.remove(id);
                    if (s != null) {
                        opens.add(s);
                    }
                }
                for (String id : List.copyOf(pendingClose.keySet())) {
                    if (pendingClose.remove(id) != null) {
                        closes.add(id);
                    }
                }
                if (!opens.isEmpty() && !settings.testWriteDelay().isZero()) {
                    testWriteDelay();
                }
                write(opens, closes, audits);
                watermark();
            });
            retryAudit.clear();
            succeeded();
        } catch (RuntimeException e) {
            failed(e);
            for (SessionInfo s : opens) {
                if (local.containsKey(s.sessionId())) {
                    pendingOpen.putIfAbsent(s.sessionId(), s);
                }
            }
            for (String id : closes) {
                if (!local.containsKey(id)) {
                    pendingClose.put(id, Boolean.TRUE);
                }
            }
        }
    }

    /** Begins the database transaction (and so fixes its {@code now()}) without taking any lock. */
    private void transactionStart() {
        Panache.getEntityManager().createNativeQuery("SELECT now()").getSingleResult();
    }

    /** This replica's flush watermark: the transaction's {@code now()}, i.e. its start ({@link #transactionStart}). */
    private void watermark() {
        var em = Panache.getEntityManager();
        em.createNativeQuery("UPDATE replicas SET flushed_through = now() WHERE id = ?1")
                .setParameter(1, settings.replicaId())
                .executeUpdate();
    }

    /** For tests only: the write of opened sessions takes this long in the database, as on a slow one. */
    private void testWriteDelay() {
        Panache.getEntityManager()
                .createNativeQuery("SELECT 1 FROM pg_sleep(?1)")
                .setParameter(1, settings.testWriteDelay().toMillis() / 1000.0)
                .getSingleResult();
    }

    private void write(List<SessionInfo> opens, List<String> closes, List<AuditEvent> audits) {
        var em = Panache.getEntityManager();
        for (SessionInfo s : opens) {
            em.createNativeQuery("INSERT INTO sessions (id, token_id, owner_replica, transport, remote_address,"
                            + " created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, now(), now())"
                            + " ON CONFLICT (id) DO UPDATE SET owner_replica = EXCLUDED.owner_replica,"
                            + " transport = EXCLUDED.transport, last_seen = now()")
                    .setParameter(1, s.sessionId())
                    .setParameter(2, s.tokenId())
                    .setParameter(3, settings.replicaId())
                    .setParameter(4, s.transport())
                    .setParameter(5, clip(s.remoteAddress(), 128))
                    .executeUpdate();
        }
        for (String id : closes) {
            SessionEntity.delete("id = ?1 and ownerReplica = ?2", id, settings.replicaId());
        }
        for (AuditEvent e : audits) {
            AuditEntity row = new AuditEntity();
            row.at = e.at();
            row.replica = settings.replicaId();
            row.kind = e.kind();
            row.sessionId = e.sessionId();
            row.tokenId = clip(e.tokenId(), 128);
            row.remoteAddress = clip(e.remoteAddress(), 128);
            row.transport = clip(e.transport(), 32);
            row.target = clip(e.target(), 512);
            row.bytesUp = e.bytesUp();
            row.bytesDown = e.bytesDown();
            row.outcome = clip(e.outcome(), 64);
            row.durationMs = e.durationMs();
            row.detail = clip(e.detail(), 512);
            row.persist();
        }
    }

    private void markStopped() {
        try (Connection c = dataSource.getConnection()) {
            try (PreparedStatement st = c.prepareStatement("UPDATE replicas SET stopped_at = now() WHERE id = ?")) {
                st.setString(1, settings.replicaId());
                st.executeUpdate();
            }
            try (PreparedStatement st = c.prepareStatement("DELETE FROM sessions WHERE owner_replica = ?")) {
                st.setString(1, settings.replicaId());
                st.executeUpdate();
            }
            notify(c, "down " + settings.replicaId());
        } catch (SQLException | RuntimeException e) {
            LOG.warnf("registry: could not mark replica %s stopped: %s", settings.replicaId(), describe(e));
        }
    }

    private void cleanUp() {
        try (Connection c = dataSource.getConnection();
                Statement st = c.createStatement()) {
            long retention = settings.auditRetention().toSeconds();
            int audits = st.executeUpdate(
                    "DELETE FROM audit_log WHERE at < now() - make_interval(secs => " + retention + ")");
            // Rows of replicas gone for a day, and sessions of replicas offline for ten times the offline limit.
            long gone = Math.max(60, settings.offlineAfter().toSeconds() * 10);
            int sessions = st.executeUpdate("DELETE FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM replicas r"
                    + " WHERE r.id = s.owner_replica AND r.heartbeat > now() - make_interval(secs => " + gone + "))");
            st.executeUpdate("DELETE FROM replicas WHERE heartbeat < now() - interval '1 day'");
            if (audits > 0 || sessions > 0) {
                LOG.infof(
                        "registry: removed %d audit rows past retention, %d sessions of offline replicas",
                        audits, sessions);
            }
        } catch (SQLException | RuntimeException e) {
            failed(e);
        }
    }

    // ---------------------------------------------------------------- notifications

    private void listen() {
        while (running) {
            try (Connection c = dataSource.getConnection()) {
                try (Statement st = c.createStatement()) {
                    st.execute("LISTEN " + CHANNEL);
                }
                listening.countDown();
                PGConnection pg = c.unwrap(PGConnection.class);
                while (running) {
                    PGNotification[] notes = pg.getNotifications(1000);
                    if (notes != null && notes.length > 0) {
                        boolean replicasChanged = false;
                        for (PGNotification n : notes) {
                            String payload = n.getParameter();
                            LOG.debugf("registry: notified %s", payload);
                            replicasChanged |= payload.startsWith("up ") || payload.startsWith("down ");
                            if (payload.startsWith(FLUSH_PREFIX)
                                    && !payload.equals(FLUSH_PREFIX + settings.replicaId())) {
                                flushAsked();
                            }
                            for (var s : subscribers) {
                                s.accept(payload);
                            }
                        }
                        if (replicasChanged) {
                            writer.execute(this::refreshReplicas);
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                if (!running) {
                    return;
                }
                failed(e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    // ---------------------------------------------------------------- state

    private void succeeded() {
        if (!available) {
            available = true;
            detail = "reachable";
            LOG.infof(
                    "registry: database reachable (replica %s); registering %d session(s)",
                    settings.replicaId(), local.size());
            // What was written during the outage may be missing: register every session this replica holds again.
            local.forEach(pendingOpen::putIfAbsent);
        }
    }

    private void failed(Exception e) {
        String why = describe(e);
        if (available) {
            downSince = Instant.now();
            LOG.warnf(
                    "registry: database unreachable (%s); live sessions carry on, hand-offs are refused until it is back",
                    why);
        }
        available = false;
        detail = why;
    }

    /** Exception class and SQL state, never the message of a driver that might echo connection details. */
    public static String describe(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && !(t instanceof SQLException)) {
            t = t.getCause();
        }
        if (t instanceof SQLException sql) {
            return "SQLState " + sql.getSQLState() + " " + sql.getClass().getSimpleName();
        }
        return t.getClass().getSimpleName();
    }

    /** {@code s} cut to at most {@code max} characters (a column's width); null stays null. */
    public static String clip(String s, int max) {
        return s == null || s.length() <= max ? s : s.substring(0, max);
    }
}
