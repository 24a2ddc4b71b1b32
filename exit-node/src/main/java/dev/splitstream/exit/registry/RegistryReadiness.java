package dev.splitstream.exit.registry;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * The shared registry in readiness: UP even while its database is unreachable, with {@code degraded} saying that no
 * new hand-offs happen. Every replica shares the one database, so an outage hits all of them at once: DOWN would
 * take every replica out of the Service's endpoints together and cut the live sessions (plain-HTTP legs, WebSocket
 * reconnects) that keep working without it. The outage shows in the check's data and in the
 * {@code splitstream_exit_registry_available} gauge (0), which the shipped alert rules watch.
 */
@Readiness
@Startup
@ApplicationScoped
public class RegistryReadiness implements HealthCheck {
    private final ExitRegistry registry;

    public RegistryReadiness(ExitRegistry registry, MeterRegistry meters) {
        this.registry = registry;
        Gauge.builder(
                        "splitstream.exit.registry.available",
                        registry,
                        r -> r.status().available() ? 1 : 0)
                .description("1 while the registry's database answers (always in memory mode), 0 while it is"
                        + " unreachable: live sessions carry on, no new hand-offs between replicas")
                .register(meters);
    }

    @Override
    public HealthCheckResponse call() {
        ExitRegistry.Status status = registry.status();
        return HealthCheckResponse.named("splitstream-registry")
                .up()
                .withData("replica", registry.replicaId())
                .withData("registry", status.detail())
                .withData("degraded", !status.available())
                .build();
    }
}
