package dev.splitstream.entry.metrics;

import dev.splitstream.protocol.Frame;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The agent's view of the HTTP requests the exit routed to its services (reported with ROUTE_LOG): Prometheus meters
 * (splitstream_entry_route_requests_seconds{service,status} with a latency histogram, and
 * splitstream_entry_route_unreported_total), the totals of the shutdown summary (requests by status class, latency
 * min/avg/max), and the last {@link #RECENT} request lines for the status screen. Thread-safe.
 */
public final class RouteRequests {
    /** Request lines kept for the status screen. */
    public static final int RECENT = 50;

    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneId.systemDefault());

    /** The classes {@link #statusClass} names, in the order of each service's timers. */
    private static final String[] CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

    private final MeterRegistry registry;
    /** Per service, its timers by {@link #classIndex}: no key built per request. */
    private final Map<String, AtomicReferenceArray<Timer>> timers = new ConcurrentHashMap<>();

    private final Counter unreported;

    /** A request line and when it was recorded; the time is formatted only when the status screen asks. */
    private record Recent(long millis, String line) {}

    // guarded by this
    private final ArrayDeque<Recent> recent = new ArrayDeque<>(RECENT);
    private final TreeMap<String, Long> byClass = new TreeMap<>();
    private long count;
    private long unreportedCount;
    private long minMicros = Long.MAX_VALUE;
    private long maxMicros;
    private double sumMicros;

    RouteRequests(MeterRegistry registry) {
        this.registry = registry;
        this.unreported = Counter.builder("splitstream.entry.route.unreported")
                .description("Route requests the exit node did not report to this agent (rate bound or busy tunnel)")
                .register(registry);
    }

    /** {@code 1xx} .. {@code 5xx}, or {@code other} (0: no response), as on the exit node. */
    public static String statusClass(int status) {
        return CLASSES[classIndex(status)];
    }

    private static int classIndex(int status) {
        return status >= 100 && status < 600 ? status / 100 - 1 : CLASSES.length - 1;
    }

    /**
     * Counts one reported request of {@code service} (one of this agent's HTTP services: the caller checks, so the
     * service label stays bounded) and keeps {@code line} for the status screen.
     */
    public void record(Frame.RouteLog report, String line) {
        int c = classIndex(report.status());
        timer(report.service(), c).record(report.latencyMicros(), TimeUnit.MICROSECONDS);
        if (report.skipped() > 0) {
            unreported.increment(report.skipped());
        }
        Recent stamped = new Recent(System.currentTimeMillis(), line);
        synchronized (this) {
            count++;
            byClass.merge(CLASSES[c], 1L, Long::sum);
            minMicros = Math.min(minMicros, report.latencyMicros());
            maxMicros = Math.max(maxMicros, report.latencyMicros());
            sumMicros += report.latencyMicros();
            unreportedCount += report.skipped();
            if (recent.size() == RECENT) {
                recent.removeFirst();
            }
            recent.addLast(stamped);
        }
    }

    /**
     * Exports {@code service}'s series for 2xx..5xx at zero now, so a dashboard's rate() sees the first request as an
     * increase (as the exit does for its classes).
     */
    public void register(String service) {
        for (int c = 1; c <= 4; c++) {
            timer(service, c);
        }
    }

    private Timer timer(String service, int statusClass) {
        AtomicReferenceArray<Timer> byClass =
                timers.computeIfAbsent(service, k -> new AtomicReferenceArray<>(CLASSES.length));
        Timer t = byClass.get(statusClass);
        if (t == null) {
            // Micrometer returns the meter registered before for the same name and tags, so a race makes no second one
            t = Timer.builder("splitstream.entry.route.requests")
                    .tag("service", service)
                    .tag("status", CLASSES[statusClass])
                    .description(
                            "HTTP requests the exit node routed to this agent's services, by service and status class")
                    .publishPercentileHistogram()
                    .maximumExpectedValue(Duration.ofMinutes(5))
                    .register(registry);
            byClass.set(statusClass, t);
        }
        return t;
    }

    /** The newest {@code n} request lines, oldest first, each after its time ({@code HH:mm:ss}). */
    public synchronized List<String> last(int n) {
        List<String> out = new ArrayList<>(Math.min(n, recent.size()));
        int skip = Math.max(0, recent.size() - n);
        for (Recent r : recent) {
            if (skip-- > 0) {
                continue;
            }
            out.add(TIME.format(Instant.ofEpochMilli(r.millis())) + " " + r.line());
        }
        return out;
    }

    /** Requests reported so far. */
    public synchronized long count() {
        return count;
    }

    /**
     * The summary's part: {@code requests=12 2xx=10 4xx=2 latency_min=0.8ms latency_avg=3.1ms latency_max=12.0ms}
     * (plus {@code unreported=N} when the exit left requests out), or empty when there were none.
     */
    public synchronized String summary() {
        if (count == 0 && unreportedCount == 0) {
            return "";
        }
        StringBuilder b = new StringBuilder(" requests=").append(count);
        byClass.forEach((c, n) -> b.append(' ').append(c).append('=').append(n));
        if (count > 0) {
            b.append(String.format(
                    Locale.ROOT,
                    " latency_min=%.1fms latency_avg=%.1fms latency_max=%.1fms",
                    minMicros / 1000.0,
                    sumMicros / count / 1000.0,
                    maxMicros / 1000.0));
        }
        if (unreportedCount > 0) {
            b.append(" unreported=").append(unreportedCount);
        }
        return b.toString();
    }
}
