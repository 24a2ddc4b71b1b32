package dev.splitstream.exit.health;

import dev.splitstream.exit.ExitLifecycle;
import dev.splitstream.exit.session.SessionRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the WebSocket endpoint is up and the tokens are loaded. */
@Readiness
@ApplicationScoped
public class ExitReadiness implements HealthCheck {
    private final ExitLifecycle lifecycle;
    private final SessionRegistry sessions;

    public ExitReadiness(ExitLifecycle lifecycle, SessionRegistry sessions) {
        this.lifecycle = lifecycle;
        this.sessions = sessions;
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("splitstream-exit")
                .status(lifecycle.isReady())
                .withData("sessions", sessions.size())
                .build();
    }
}
