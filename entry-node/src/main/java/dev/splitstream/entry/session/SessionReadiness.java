package dev.splitstream.entry.session;

import dev.splitstream.entry.metrics.EntryMetrics;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/** Ready while a session with the exit node is established (connected, handshake done). */
@Readiness
@ApplicationScoped
public class SessionReadiness implements HealthCheck {
    private final SessionManager manager;
    private final EntryMetrics metrics;

    public SessionReadiness(SessionManager manager, EntryMetrics metrics) {
        this.manager = manager;
        this.metrics = metrics;
    }

    @Override
    public HealthCheckResponse call() {
        HealthCheckResponseBuilder b =
                HealthCheckResponse.named("splitstream-session").status(metrics.isConnected());
        String id = manager.sessionIdHex();
        if (id != null) {
            b.withData("session", id);
        }
        String transport = manager.transportName();
        if (transport != null) {
            b.withData("transport", transport);
        }
        return b.withData("streams", metrics.streams()).build();
    }
}
