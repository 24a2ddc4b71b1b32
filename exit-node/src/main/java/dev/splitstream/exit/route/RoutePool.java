package dev.splitstream.exit.route;

import dev.splitstream.exit.config.ConfigException;
import dev.splitstream.exit.config.SplitstreamConfig;
import dev.splitstream.exit.expose.ExposeService;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.arc.ClientProxy;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Idle {@link ServiceConnection}s per agent and service: a route request takes one (the most recently used) or opens a
 * new stream, and gives it back when its response ended cleanly and both the service and the exchange allow
 * keep-alive. Bounded per service ({@code splitstream.exit.route-pool.max-idle}) and in all
 * ({@code max-idle-total}); an idle connection is closed after {@code idle-timeout}, and leaves at once when its stream
 * ends (the agent's session went, the service closed it). A connection serves one request at a time: never two
 * clients' requests on one stream at once, no pipelining.
 */
@ApplicationScoped
public class RoutePool {
    private final ExposeService expose;
    private final Vertx vertx;
    private final int maxIdle;
    private final int maxIdleTotal;
    private final long idleTimeoutNanos;
    private final long halfClosedMillis;
    private final long responseTimeoutMillis;
    private final long readTimeoutMillis;
    private final long sendTimeoutMillis;
    private final Map<String, ArrayDeque<ServiceConnection>> idle = new HashMap<>();
    private int idleCount;
    private long sweepTimer = -1;
    private final Counter opened;
    private final Counter reused;
    private final Counter retried;

    public RoutePool(ExposeService expose, Vertx vertx, SplitstreamConfig config, MeterRegistry registry) {
        this.expose = ClientProxy.unwrap(expose); // called per request: no bean lookup through ArC's proxy
        this.vertx = vertx;
        SplitstreamConfig.RoutePool c = config.exit().routePool();
        if (c.maxIdle() < 0) {
            throw new ConfigException(
                    "splitstream.exit.route-pool.max-idle (SPLITSTREAM_EXIT_ROUTE_POOL_MAX_IDLE) must not be negative");
        }
        if (c.maxIdleTotal() < 0) {
            throw new ConfigException("splitstream.exit.route-pool.max-idle-total"
                    + " (SPLITSTREAM_EXIT_ROUTE_POOL_MAX_IDLE_TOTAL) must not be negative");
        }
        if (c.idleTimeout().isNegative() || c.idleTimeout().isZero()) {
            throw new ConfigException("splitstream.exit.route-pool.idle-timeout"
                    + " (SPLITSTREAM_EXIT_ROUTE_POOL_IDLE_TIMEOUT) must be positive");
        }
        Duration responseTimeout = config.exit().routeResponseTimeout();
        if (responseTimeout.isNegative() || responseTimeout.toMillis() < 1) {
            throw new ConfigException("splitstream.exit.route-response-timeout"
                    + " (SPLITSTREAM_EXIT_ROUTE_RESPONSE_TIMEOUT) must be at least 1ms, was " + responseTimeout);
        }
        Duration readTimeout = config.exit().routeReadTimeout();
        if (readTimeout.isNegative() || readTimeout.toMillis() < 1) {
            throw new ConfigException("splitstream.exit.route-read-timeout"
                    + " (SPLITSTREAM_EXIT_ROUTE_READ_TIMEOUT) must be at least 1ms, was " + readTimeout);
        }
        Duration sendTimeout = config.exit().routeSendTimeout();
        if (sendTimeout.isNegative() || sendTimeout.toMillis() < 1) {
            throw new ConfigException("splitstream.exit.route-send-timeout"
                    + " (SPLITSTREAM_EXIT_ROUTE_SEND_TIMEOUT) must be at least 1ms, was " + sendTimeout);
        }
        this.responseTimeoutMillis = responseTimeout.toMillis();
        this.readTimeoutMillis = readTimeout.toMillis();
        this.sendTimeoutMillis = sendTimeout.toMillis();
        this.maxIdle = c.maxIdle();
        this.maxIdleTotal = c.maxIdleTotal();
        this.idleTimeoutNanos = c.idleTimeout().toNanos();
        this.halfClosedMillis =
                Math.max(1, config.exit().upgradeHalfCloseTimeout().toMillis());
        Gauge.builder("splitstream.exit.route.pool.idle", this, RoutePool::idleCount)
                .description("Idle keep-alive connections to agents' HTTP services, waiting for the next request")
                .register(registry);
        this.opened = Counter.builder("splitstream.exit.route.pool.streams")
                .tag("kind", "new")
                .description("Route requests by the connection that carried them: a new stream or a reused one")
                .register(registry);
        this.reused = Counter.builder("splitstream.exit.route.pool.streams")
                .tag("kind", "reused")
                .description("Route requests by the connection that carried them: a new stream or a reused one")
                .register(registry);
        this.retried = Counter.builder("splitstream.exit.route.retries")
                .description("Idempotent requests sent again on a new stream after a reused one died unanswered")
                .register(registry);
    }

    void onStart(@Observes StartupEvent event) {
        long every = Math.max(200, Math.min(1000, idleTimeoutNanos / 1_000_000 / 2));
        sweepTimer = vertx.setPeriodic(every, id -> sweep());
    }

    void onStop(@Observes ShutdownEvent event) {
        if (sweepTimer >= 0) {
            vertx.cancelTimer(sweepTimer);
        }
        List<ServiceConnection> all = new ArrayList<>();
        synchronized (this) {
            idle.values().forEach(all::addAll);
            idle.clear();
            idleCount = 0;
        }
        all.forEach(c -> c.close("the exit node stops"));
    }

    /** How long an upgraded route connection may stay half-closed ({@code upgrade-half-close-timeout}), ms. */
    long halfClosedMillis() {
        return halfClosedMillis;
    }

    /** Longest wait from a request's end to its response's head ({@code route-response-timeout}), ms. */
    long responseTimeoutMillis() {
        return responseTimeoutMillis;
    }

    /** Longest silence between two reads of a response body ({@code route-read-timeout}), ms. */
    long readTimeoutMillis() {
        return readTimeoutMillis;
    }

    /** Longest time the service may leave the request body unread, its stream full ({@code route-send-timeout}), ms. */
    long sendTimeoutMillis() {
        return sendTimeoutMillis;
    }

    Vertx vertx() {
        return vertx;
    }

    /** Whether connections are kept between requests at all ({@code max-idle} above zero). */
    boolean enabled() {
        return maxIdle > 0 && maxIdleTotal > 0;
    }

    /**
     * Sends {@code ex} to {@code service} of {@code agent}: on an idle connection when one is there (and the request
     * is no upgrade: an upgraded connection never comes back), else on a new stream. {@code service} may carry the
     * agent's {@code |scheme://host:port} X-Host suffix; connections to different X-Host targets never mix.
     */
    void open(String agent, String service, RouteExchange ex) {
        if (!ex.isUpgrade() && enabled()) {
            ServiceConnection c = take(key(agent, service));
            if (c != null) {
                reused.increment();
                ex.useConnection(c, true);
                c.bind(ex, ex.headForReuse());
                return;
            }
        }
        openNew(agent, service, ex);
    }

    /** Sends {@code ex} on a new stream. */
    void openNew(String agent, String service, RouteExchange ex) {
        opened.increment();
        ServiceConnection c = new ServiceConnection(this, agent, key(agent, service), ex);
        ex.useConnection(c, false);
        expose.openStream(agent, service, c);
    }

    /**
     * True while {@code stream} belongs to the session serving {@code agent} now and that session has a leg each way. A
     * request on a pooled stream of a session that lacks one (a split session whose upstream leg is away) would wait
     * outside the agent's bounded queue; it takes a new stream instead, which waits there. On the session's thread.
     */
    boolean carriesStreams(String agent, dev.splitstream.protocol.Stream stream) {
        return expose.sessionOf(agent)
                .map(s -> s.owns(stream) && s.carriesStreams())
                .orElse(false);
    }

    /** Counts a request sent again after its reused connection died. */
    void retried() {
        retried.increment();
    }

    private static String key(String agent, String service) {
        return agent + '\n' + service;
    }

    private synchronized ServiceConnection take(String key) {
        ArrayDeque<ServiceConnection> q = idle.get(key);
        if (q == null) {
            return null;
        }
        ServiceConnection c = q.pollLast(); // the warmest one; the oldest ones age out
        if (c != null) {
            idleCount--;
        }
        if (q.isEmpty()) {
            idle.remove(key);
        }
        return c;
    }

    /** Takes {@code c} in as idle; false when the pool is full (the caller closes it). */
    synchronized boolean offer(ServiceConnection c) {
        if (!enabled() || idleCount >= maxIdleTotal || c.isBroken()) {
            return false;
        }
        ArrayDeque<ServiceConnection> q = idle.computeIfAbsent(c.key, k -> new ArrayDeque<>());
        if (q.size() >= maxIdle) {
            if (q.isEmpty()) {
                idle.remove(c.key);
            }
            return false;
        }
        c.idleSinceNanos = System.nanoTime();
        q.addLast(c);
        idleCount++;
        return true;
    }

    /** Forgets {@code c} if it is idle here. */
    synchronized void remove(ServiceConnection c) {
        ArrayDeque<ServiceConnection> q = idle.get(c.key);
        if (q != null && q.remove(c)) {
            idleCount--;
            if (q.isEmpty()) {
                idle.remove(c.key);
            }
        }
    }

    synchronized int idleCount() {
        return idleCount;
    }

    private void sweep() {
        long now = System.nanoTime();
        List<ServiceConnection> expired = new ArrayList<>();
        synchronized (this) {
            for (Iterator<ArrayDeque<ServiceConnection>> it = idle.values().iterator(); it.hasNext(); ) {
                ArrayDeque<ServiceConnection> q = it.next();
                // oldest first: stop at the first one still young enough
                while (!q.isEmpty() && now - q.peekFirst().idleSinceNanos >= idleTimeoutNanos) {
                    expired.add(q.pollFirst());
                    idleCount--;
                }
                if (q.isEmpty()) {
                    it.remove();
                }
            }
        }
        expired.forEach(c -> c.close("idle for longer than the pool's idle timeout"));
    }
}
