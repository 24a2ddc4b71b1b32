package dev.splitstream.exit;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.exit.transport.ws.ExitWebSocket;
import dev.splitstream.protocol.CloseCode;
import io.quarkus.runtime.LaunchMode;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.eclipse.microprofile.config.ConfigProvider;
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
    private Instant startedAt = Instant.now();

    public ExitLifecycle(ExitSettings settings, TokenRegistry tokens, SessionRegistry sessions, ExitMetrics metrics) {
        this.settings = settings;
        this.tokens = tokens;
        this.sessions = sessions;
        this.metrics = metrics;
    }

    void onStart(@Observes @Priority(100) StartupEvent event) {
        startedAt = Instant.now();
        started = true;
        LOG.infof(
                "exit node listening on %d path %s (tokens %d, allow %s, max sessions %d)",
                httpPort(),
                ExitWebSocket.PATH,
                tokens.size(),
                settings.allow().isEmpty() ? "nothing" : settings.allow(),
                settings.maxSessions());
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

    private static int httpPort() {
        var config = ConfigProvider.getConfig();
        String key = LaunchMode.current() == LaunchMode.TEST ? "quarkus.http.test-port" : "quarkus.http.port";
        return config.getOptionalValue(key, Integer.class).orElse(8080);
    }
}
