package dev.splitstream.exit;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.exit.transport.http.HttpTransport;
import dev.splitstream.exit.transport.ws.ExitWebSocket;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.FrameCodec;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.vertx.http.HttpServer;
import io.quarkus.vertx.http.HttpServerStart;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.event.ObservesAsync;
import jakarta.enterprise.inject.Instance;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jboss.logging.Logger;

/** Start-up line (parsed by tests and the demo), readiness, and the shutdown summary. */
@ApplicationScoped
public class ExitLifecycle {
    private static final Logger LOG = Logger.getLogger(ExitLifecycle.class);

    private final ExitSettings settings;
    private final TokenRegistry tokens;
    private final SessionRegistry sessions;
    private final ExitMetrics metrics;
    private volatile boolean started;
    private final AtomicBoolean announced = new AtomicBoolean();
    private Instant startedAt = Instant.now();
    private final Instance<HttpServer> httpServer;

    public ExitLifecycle(
            ExitSettings settings,
            TokenRegistry tokens,
            SessionRegistry sessions,
            ExitMetrics metrics,
            Instance<HttpServer> httpServer) {
        this.httpServer = httpServer;
        this.settings = settings;
        this.tokens = tokens;
        this.sessions = sessions;
        this.metrics = metrics;
    }

    void onStart(@Observes @Priority(100) StartupEvent event) {
        startedAt = Instant.now();
        started = true;
        if (settings.encryption()) {
            FrameCodec.warmUpInBackground();
        }
    }

    // Fired asynchronously once the HTTP server listens, so the line carries the real port (also when it is 0).
    void onHttpStart(@ObservesAsync HttpServerStart event) {
        if (announced.compareAndSet(false, true)) {
            LOG.infof(
                    "exit node listening on %d path %s (http %s, tokens %d, allow %s, max sessions %d)",
                    httpPort(event.options().getPort()),
                    ExitWebSocket.PATH,
                    HttpTransport.BASE,
                    tokens.size(),
                    settings.allow().isEmpty() ? "nothing" : settings.allow(),
                    settings.maxSessions());
        }
    }

    /** True once the endpoint is up and the tokens are loaded. */
    public boolean isReady() {
        return started && tokens.isLoaded();
    }

    void onStop(@Observes ShutdownEvent event) {
        started = false;
        int open = sessions.size();
        sessions.closeAll(CloseCode.GOING_AWAY, "exit node shutting down");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (sessions.size() > 0 && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        Duration up = Duration.between(startedAt, Instant.now());
        LOG.infof(
                "summary: sessions %d (open at shutdown %d), streams %d, bytes up %d down %d, uptime %ds",
                metrics.sessionsTotal(),
                open,
                metrics.streamsTotal(),
                metrics.bytesUpTotal(),
                metrics.bytesDownTotal(),
                up.toSeconds());
    }

    private int httpPort(int fallback) {
        if (httpServer.isResolvable()) {
            try {
                int port = httpServer.get().getPort();
                if (port > 0) {
                    return port;
                }
            } catch (RuntimeException e) {
                // fall back to the configured port
            }
        }
        return fallback;
    }
}
