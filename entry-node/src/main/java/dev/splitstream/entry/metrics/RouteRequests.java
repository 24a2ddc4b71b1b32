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

    private final MeterRegistry registry;
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();
    private final Counter unreported;

    // guarded by this
    private final ArrayDeque<String> recent = new ArrayDeque<>(RECENT);
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
        return status >= 100 && status < 600 ? (status / 100) + "xx" : "other";
    }

    /**
     * Counts one reported request of {@code service} (one of this agent's HTTP services: the caller checks, so the
     * service label stays bounded) and keeps {@code line} for the status screen.
     */
    public void record(Frame.RouteLog report, String line) {
        timer(report.service(), statusClass(report.status())).record(report.latencyMicros(), TimeUnit.MICROSECONDS);
        if (report.skipped() > 0) {
            unreported.increment(report.skipped());
        }
        String stamped = TIME.format(Instant.now()) + " " + line;
        synchronized (this) {
            count++;
            byClass.merge(statusClass(report.status()), 1L, Long::sum);
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
        for (String c : new String[] {"2xx", "3xx", "4xx", "5xx"}) {
            timer(service, c);
        }
    }

    private Timer timer(String service, String statusClass) {
        return timers.computeIfAbsent(service + " " + statusClass, k -> Timer.builder(
                        "splitstream.entry.route.requests")
                .tag("service", service)
                .tag("status", statusClass)
                .description("HTTP requests the exit node routed to this agent's services, by service and status class")
                .publishPercentileHistogram()
                .maximumExpectedValue(Duration.ofMinutes(5))
                .register(registry));
    }

    /** The newest {@code n} request lines, oldest first. */
    public synchronized List<String> last(int n) {
        List<String> all = new ArrayList<>(recent);
        return all.subList(Math.max(0, all.size() - n), all.size());
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
