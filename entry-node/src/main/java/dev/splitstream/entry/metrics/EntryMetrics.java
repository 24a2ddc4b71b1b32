package dev.splitstream.entry.metrics;

import dev.splitstream.bridge.BridgeMetrics;
import dev.splitstream.protocol.BufferBudget;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.BaseUnits;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The entry node's counters and gauges (Prometheus names: splitstream_entry_connected, splitstream_entry_streams,
 * splitstream_entry_bytes_total{direction="up"|"down"}, splitstream_entry_reconnects_total,
 * splitstream_entry_rtt_seconds, splitstream_entry_transport_info{transport}, and for an agent the route requests of
 * {@link RouteRequests}), plus the totals of the shutdown summary. Thread-safe: listeners update it from their
 * own event loops.
 */
@ApplicationScoped
public class EntryMetrics {
    private final Instant started = Instant.ofEpochMilli(
            java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime());
    private final AtomicInteger connected = new AtomicInteger();
    private final AtomicInteger streams = new AtomicInteger();
    private final AtomicLong rttNanos = new AtomicLong(-1);
    private final LongAdder connections = new LongAdder();
    private final LongAdder up = new LongAdder();
    private final LongAdder down = new LongAdder();
    private final Counter reconnects;
    private final java.util.Map<String, AtomicInteger> transports = new java.util.concurrent.ConcurrentHashMap<>();
    private final MeterRegistry registry;
    private final RouteRequests routeRequests;

    public EntryMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.routeRequests = new RouteRequests(registry);
        Gauge.builder("splitstream.entry.connected", connected, AtomicInteger::get)
                .description("1 while a session with the exit node is established, else 0")
                .register(registry);
        Gauge.builder("splitstream.entry.streams", streams, AtomicInteger::get)
                .description("Local connections currently tunnelled")
                .register(registry);
        Gauge.builder("splitstream.entry.rtt.seconds", rttNanos, r -> r.get() < 0 ? Double.NaN : r.get() / 1e9)
                .description("Smoothed round-trip time to the exit node measured by keepalive pings")
                .register(registry);
        // Counted per socket read and write into LongAdders, which the registry reads when scraped: Micrometer's
        // counter in Quarkus's composite registry walked its children on every increment (5 of 48 JFR samples of the
        // event loop under pgbench -S).
        FunctionCounter.builder("splitstream.entry.bytes", up, LongAdder::sum)
                .description("Payload bytes tunnelled; up = from local clients to targets")
                .tag("direction", "up")
                .register(registry);
        FunctionCounter.builder("splitstream.entry.bytes", down, LongAdder::sum)
                .description("Payload bytes tunnelled; up = from local clients to targets")
                .tag("direction", "down")
                .register(registry);
        reconnects = Counter.builder("splitstream.entry.reconnects")
                .description("Connection attempts to the exit node after the first one")
                .register(registry);
    }

    /**
     * Gauges of the node's buffer budget: splitstream_entry_buffer_held_bytes (stream bytes in memory now),
     * _committed_bytes (shares plus borrowed), _limit_bytes, _leases (streams holding a share) and
     * splitstream_entry_buffer_refused_total (streams refused because it was spent),
     * splitstream_entry_buffer_overruns_total (streams reset because the node would not hold more of the peer's bytes),
     * splitstream_entry_buffer_dormant (idle streams that lent their share).
     */
    public void watchBudget(BufferBudget budget) {
        Gauge.builder("splitstream.entry.buffer.held", budget, BufferBudget::held)
                .baseUnit(BaseUnits.BYTES)
                .description(
                        "Stream bytes held in memory now (read and not yet acknowledged, or received and not yet written)")
                .register(registry);
        Gauge.builder("splitstream.entry.buffer.committed", budget, BufferBudget::committed)
                .baseUnit(BaseUnits.BYTES)
                .description("Buffer budget committed: the shares of open streams plus what they borrowed beyond them")
                .register(registry);
        Gauge.builder("splitstream.entry.buffer.limit", budget, BufferBudget::limit)
                .baseUnit(BaseUnits.BYTES)
                .description("The buffer budget (splitstream.buffer.budget)")
                .register(registry);
        Gauge.builder("splitstream.entry.buffer.leases", budget, BufferBudget::leases)
                .description("Streams open on the buffer budget (with a share, or dormant)")
                .register(registry);
        Gauge.builder("splitstream.entry.buffer.dormant", budget, BufferBudget::dormant)
                .description(
                        "Idle streams that lent their share to another stream (they claim one back when they move)")
                .register(registry);
        FunctionCounter.builder("splitstream.entry.buffer.refused", budget, BufferBudget::refused)
                .description("Streams refused because the buffer budget was spent")
                .register(registry);
        FunctionCounter.builder("splitstream.entry.buffer.overruns", budget, BufferBudget::overruns)
                .description("Streams reset because the node would not hold more of the peer's bytes (past twice the"
                        + " budget), each once")
                .register(registry);
    }

    /**
     * splitstream_entry_sessions_plain: 1 while the session sends its DATA plain because acknowledged bytes showed the
     * path faster than deflate (the compression governor's choice), else 0.
     */
    public void watchCompression(java.util.function.BooleanSupplier sendsPlain) {
        Gauge.builder("splitstream.entry.sessions.plain", () -> sendsPlain.getAsBoolean() ? 1 : 0)
                .description("1 while the session sends DATA plain: acknowledged bytes showed its path faster than"
                        + " deflate")
                .register(registry);
    }

    public void connected(boolean value) {
        connected.set(value ? 1 : 0);
    }

    public boolean isConnected() {
        return connected.get() == 1;
    }

    public void streamOpened() {
        connections.increment();
        streams.incrementAndGet();
    }

    public void streamClosed() {
        streams.decrementAndGet();
    }

    public void bytesUp(long n) {
        up.add(n);
    }

    public void bytesDown(long n) {
        down.add(n);
    }

    /** Counts a bridged local connection: bytes read from it travel up, bytes written to it came down. */
    public BridgeMetrics local() {
        return local;
    }

    private final BridgeMetrics local = new BridgeMetrics() {
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
            bytesUp(bytes);
        }

        @Override
        public void bytesToSocket(int bytes) {
            bytesDown(bytes);
        }
    };

    public void reconnect() {
        reconnects.increment();
    }

    /**
     * The transport in use (gauge splitstream_entry_transport_info{transport} = 1 for it, 0 for the others seen), or
     * null when there is no session.
     */
    public void transport(String name) {
        if (name != null) {
            transports.computeIfAbsent(name, n -> {
                AtomicInteger v = new AtomicInteger();
                Gauge.builder("splitstream.entry.transport.info", v, AtomicInteger::get)
                        .description("1 for the transport the session uses")
                        .tag("transport", n)
                        .register(registry);
                return v;
            });
        }
        transports.forEach((n, v) -> v.set(n.equals(name) ? 1 : 0));
    }

    public void rtt(long nanos) {
        rttNanos.set(nanos);
    }

    public int streams() {
        return streams.get();
    }

    /** Local connections accepted since start. */
    public long connectionsTotal() {
        return connections.sum();
    }

    public long bytesUpTotal() {
        return up.sum();
    }

    public long bytesDownTotal() {
        return down.sum();
    }

    public long reconnectsTotal() {
        return (long) reconnects.count();
    }

    /** Smoothed RTT in nanoseconds, or -1 before the first pong. */
    public long rttNanos() {
        return rttNanos.get();
    }

    /** The requests the exit routed to this agent's HTTP services (agent mode). */
    public RouteRequests routeRequests() {
        return routeRequests;
    }

    /** The line logged at shutdown; an agent's adds its route requests by status class and their latency. */
    public String summary() {
        Duration uptime = Duration.between(started, Instant.now()).withNanos(0);
        return "summary: connections=" + connections.sum() + " bytes_up=" + up.sum() + " bytes_down=" + down.sum()
                + routeRequests.summary() + " uptime=" + uptime;
    }
}
