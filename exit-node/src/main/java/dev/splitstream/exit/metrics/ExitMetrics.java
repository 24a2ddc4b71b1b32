package dev.splitstream.exit.metrics;

import dev.splitstream.bridge.BridgeMetrics;
import dev.splitstream.protocol.BufferBudget;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The exit node's meters (names fixed by the team contract) and the running totals behind the shutdown summary.
 * Thread-safe: sessions on different event loops update it. Created at start-up so every meter is scraped from the
 * first request on.
 */
@Startup
@ApplicationScoped
public class ExitMetrics {
    private final MeterRegistry registry;
    private final AtomicInteger sessions = new AtomicInteger();
    private final AtomicInteger streams = new AtomicInteger();
    private final AtomicLong sessionsTotal = new AtomicLong();
    private final AtomicLong streamsTotal = new AtomicLong();
    private final AtomicLong lastRttNanos = new AtomicLong(-1);
    // Counted per socket read and write: a LongAdder, which the registry reads when scraped. Micrometer's counter in
    // Quarkus's composite registry walked its children on every increment (5 of 48 JFR samples of an entry's event loop
    // under pgbench -S).
    private final LongAdder bytesUp = new LongAdder();
    private final LongAdder bytesDown = new LongAdder();
    private final ConcurrentHashMap<String, Counter> handshakeFailures = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> dialFailures = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> evictions = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> connectionRefusals = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> httpRequests = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> routeReports = new ConcurrentHashMap<>();
    private final Counter resumes;
    private final Refusals refusals = new Refusals(200);
    private final Counter httpBytesUp;
    private final Counter httpBytesDown;

    public ExitMetrics(MeterRegistry registry, BufferBudget budget) {
        this.registry = registry;
        watchBudget(budget);
        Gauge.builder("splitstream.exit.sessions", sessions, AtomicInteger::get)
                .description("Sessions held (attached or waiting for a resume)")
                .register(registry);
        Gauge.builder("splitstream.exit.streams", streams, AtomicInteger::get)
                .description("Streams with a connected target")
                .register(registry);
        Gauge.builder("splitstream.exit.rtt.seconds", lastRttNanos, v -> v.get() < 0 ? Double.NaN : v.get() / 1e9)
                .description("Last measured round-trip time to an entry node")
                .register(registry);
        FunctionCounter.builder("splitstream.exit.bytes", bytesUp, LongAdder::sum)
                .tag("direction", "up")
                .description("Stream bytes written to targets (up) and read from targets (down)")
                .register(registry);
        FunctionCounter.builder("splitstream.exit.bytes", bytesDown, LongAdder::sum)
                .tag("direction", "down")
                .description("Stream bytes written to targets (up) and read from targets (down)")
                .register(registry);
        httpBytesUp = Counter.builder("splitstream.exit.http.bytes")
                .tag("direction", "up")
                .description(
                        "Bytes of frames in HTTP transport bodies: POST bodies read (up), responses written (down)")
                .register(registry);
        httpBytesDown = Counter.builder("splitstream.exit.http.bytes")
                .tag("direction", "down")
                .description(
                        "Bytes of frames in HTTP transport bodies: POST bodies read (up), responses written (down)")
                .register(registry);
        for (String kind : new String[] {"handshake", "up", "down"}) {
            httpRequest(kind, 0);
        }
        resumes = Counter.builder("splitstream.exit.resumes")
                .description("Sessions resumed on a new connection after losing theirs")
                .register(registry);
        // Series that dashboards and alerts rate() exist from the start, so the first refusal counts as an increase.
        for (String reason : new String[] {"auth_failed", "replay", "stale", "limit_exceeded"}) {
            counter(handshakeFailures, "splitstream.exit.handshake.failures", reason);
        }
        for (String reason : new String[] {"not_allowed", "connect_failed", "too_many_streams"}) {
            counter(dialFailures, "splitstream.exit.dial.failures", reason);
        }
        for (String outcome : new String[] {"sent", "rate", "busy", "away", "not_agreed"}) {
            routeReportCounter(outcome);
        }
    }

    /**
     * What became of one route request's report to its agent (ROUTE_LOG): {@code sent}, or left out because of the
     * rate bound ({@code rate}), a busy outbound path ({@code busy}), an agent between connections ({@code away}), or
     * an agent that did not ask for reports ({@code not_agreed}).
     */
    public void routeReport(String outcome) {
        routeReportCounter(outcome).increment();
    }

    /** {@code count} reports with the same outcome (a ROUTE_LOGS batch). */
    public void routeReports(String outcome, int count) {
        routeReportCounter(outcome).increment(count);
    }

    /** One request of the plain-HTTP transport: {@code kind} is handshake, up or down. */
    public void httpRequest(String kind) {
        httpRequest(kind, 1);
    }

    private void httpRequest(String kind, int n) {
        httpRequests
                .computeIfAbsent(kind, k -> Counter.builder("splitstream.exit.http.requests")
                        .tag("kind", k)
                        .description("Requests of the plain-HTTP transport, by kind")
                        .register(registry))
                .increment(n);
    }

    public void httpBytesUp(long n) {
        httpBytesUp.increment(n);
    }

    public void httpBytesDown(long n) {
        httpBytesDown.increment(n);
    }

    public void sessionOpened() {
        sessions.incrementAndGet();
        sessionsTotal.incrementAndGet();
    }

    /** Registers a gauge read from {@code value} (a size some component bounds). */
    public void gauge(String name, String description, java.util.function.Supplier<Number> value) {
        Gauge.builder(name, value).description(description).register(registry);
    }

    /** A connection to the HTTP port closed by a limit: {@code connections_per_source} or {@code header_timeout}. */
    public void connectionRefused(String reason) {
        counter(connectionRefusals, "splitstream.exit.connections.refused", reason)
                .increment();
    }

    /** {@link #connectionRefused(String)}, kept with {@code detail} (no secret) for the dashboard too. */
    public void connectionRefused(String reason, String detail) {
        connectionRefused(reason);
        refusal("connection", reason, detail);
    }

    /** A detached session closed to make room for a newer login of its token. */
    public void sessionEvicted() {
        counter(evictions, "splitstream.exit.sessions.evicted", "limit").increment();
    }

    /** {@link #sessionEvicted()}, kept with {@code detail} (no secret) for the dashboard too. */
    public void sessionEvicted(String detail) {
        sessionEvicted();
        refusal("session", "evicted", detail);
    }

    /**
     * Keeps a refusal for the dashboard whose counting is the caller's: {@code kind} is {@code handshake},
     * {@code stream}, {@code connection}, {@code session} or {@code expose}; {@code detail} holds no secret.
     */
    public void refusal(String kind, String reason, String detail) {
        refusals.add(new Refusals.Refusal(java.time.Instant.now(), kind, reason, detail));
    }

    public void sessionClosed() {
        sessions.decrementAndGet();
    }

    public void streamOpened() {
        streams.incrementAndGet();
        streamsTotal.incrementAndGet();
    }

    public void streamClosed() {
        streams.decrementAndGet();
    }

    public void bytesUp(long n) {
        bytesUp.add(n);
    }

    public void bytesDown(long n) {
        bytesDown.add(n);
    }

    /**
     * Counts a bridged target connection: bytes read from the target travel down (to the entry), bytes written to it
     * came up.
     */
    public BridgeMetrics targets() {
        return targets;
    }

    private final BridgeMetrics targets = new BridgeMetrics() {
        @Override
        public void connectionOpened() {
            streamOpened();
        }

        @Override
        public void connectionClosed() {
            streamClosed();
        }

        @Override
        public void bytesFromSocket(int bytes) {
            bytesDown(bytes);
        }

        @Override
        public void bytesToSocket(int bytes) {
            bytesUp(bytes);
        }
    };

    public void rtt(long nanos) {
        lastRttNanos.set(nanos);
    }

    /** A refused handshake, counted and kept (with {@code detail}, no secret) for the dashboard. */
    public void handshakeFailure(String reason, String detail) {
        handshakeFailure(reason);
        refusals.add(new Refusals.Refusal(java.time.Instant.now(), "handshake", reason, detail));
    }

    /** A refused or failed stream, counted and kept (with {@code detail}, no secret) for the dashboard. */
    public void dialFailure(String reason, String detail) {
        dialFailure(reason);
        refusals.add(new Refusals.Refusal(java.time.Instant.now(), "stream", reason, detail));
    }

    public void resumed() {
        resumes.increment();
    }

    /** The newest refusals. */
    public Refusals refusals() {
        return refusals;
    }

    public void handshakeFailure(String reason) {
        counter(handshakeFailures, "splitstream.exit.handshake.failures", reason)
                .increment();
    }

    public void dialFailure(String reason) {
        counter(dialFailures, "splitstream.exit.dial.failures", reason).increment();
    }

    private Counter routeReportCounter(String outcome) {
        return routeReports.computeIfAbsent(outcome, k -> Counter.builder("splitstream.exit.route.reports")
                .tag("outcome", k)
                .description("Reports of route requests to their agents (ROUTE_LOG), by outcome")
                .register(registry));
    }

    private Counter counter(ConcurrentHashMap<String, Counter> cache, String name, String reason) {
        String r = reason.toLowerCase(Locale.ROOT);
        return cache.computeIfAbsent(
                r, k -> Counter.builder(name).tag("reason", k).register(registry));
    }

    public int sessions() {
        return sessions.get();
    }

    public int streams() {
        return streams.get();
    }

    public long sessionsTotal() {
        return sessionsTotal.get();
    }

    public long streamsTotal() {
        return streamsTotal.get();
    }

    public long bytesUpTotal() {
        return bytesUp.sum();
    }

    public long bytesDownTotal() {
        return bytesDown.sum();
    }

    /**
     * Gauges of the node's buffer budget: splitstream_exit_buffer_held_bytes (stream bytes in memory now),
     * _committed_bytes (shares plus borrowed), _limit_bytes, _leases (streams holding a share) and
     * splitstream_exit_buffer_refused_total (streams refused because it was spent),
     * splitstream_exit_buffer_overruns_total (streams reset because the node would not hold more of the peer's bytes),
     * splitstream_exit_buffer_dormant (idle streams that lent their share).
     */
    private void watchBudget(BufferBudget budget) {
        Gauge.builder("splitstream.exit.buffer.held", budget, BufferBudget::held)
                .baseUnit(BaseUnits.BYTES)
                .description(
                        "Stream bytes held in memory now (read and not yet acknowledged, or received and not yet written)")
                .register(registry);
        Gauge.builder("splitstream.exit.buffer.committed", budget, BufferBudget::committed)
                .baseUnit(BaseUnits.BYTES)
                .description("Buffer budget committed: the shares of open streams plus what they borrowed beyond them")
                .register(registry);
        Gauge.builder("splitstream.exit.buffer.limit", budget, BufferBudget::limit)
                .baseUnit(BaseUnits.BYTES)
                .description("The buffer budget (splitstream.buffer.budget)")
                .register(registry);
        Gauge.builder("splitstream.exit.buffer.leases", budget, BufferBudget::leases)
                .description("Streams open on the buffer budget (with a share, or dormant)")
                .register(registry);
        Gauge.builder("splitstream.exit.buffer.dormant", budget, BufferBudget::dormant)
                .description(
                        "Idle streams that lent their share to another stream (they claim one back when they move)")
                .register(registry);
        FunctionCounter.builder("splitstream.exit.buffer.refused", budget, BufferBudget::refused)
                .description("Streams refused because the buffer budget was spent")
                .register(registry);
        FunctionCounter.builder("splitstream.exit.buffer.overruns", budget, BufferBudget::overruns)
                .description("Streams reset because the node would not hold more of the peer's bytes (past twice the"
                        + " budget), each once")
                .register(registry);
    }
}
