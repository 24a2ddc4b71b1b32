package dev.splitstream.exit.registry;

import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Down while the shared registry's database is unreachable: the replica keeps its live sessions, but cannot hand legs
 * over to other replicas, so a load balancer should prefer replicas that can.
 */
@Readiness
@ApplicationScoped
public class RegistryReadiness implements HealthCheck {
    private final ExitRegistry registry;

    public RegistryReadiness(ExitRegistry registry) {
        this.registry = registry;
    }

    @Override
    public HealthCheckResponse call() {
        ExitRegistry.Status status = registry.status();
        return HealthCheckResponse.named("splitstream-registry")
                .status(status.available())
                .withData("replica", registry.replicaId())
                .withData("registry", status.detail())
                .build();
    }
}
