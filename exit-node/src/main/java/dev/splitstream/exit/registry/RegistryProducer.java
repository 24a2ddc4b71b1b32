package dev.splitstream.exit.registry;

import dev.splitstream.exit.config.SplitstreamConfig;
import io.agroal.api.AgroalDataSource;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/** Chooses the registry from {@code splitstream.exit.registry}, starts it with the node and stops it last. */
@ApplicationScoped
public class RegistryProducer {

    @Produces
    @Singleton
    RegistrySettings settings(SplitstreamConfig config) {
        return RegistrySettings.from(config);
    }

    @Produces
    @Singleton
    ExitRegistry registry(RegistrySettings settings, Instance<AgroalDataSource> dataSource) {
        // The datasource bean is active only with registry=postgres (RegistryActivationInterceptor): never touch it
        // else.
        return settings.postgres()
                ? new PostgresRegistry(settings, dataSource.get())
                : new MemoryRegistry(settings.replicaId());
    }

    void onStart(@Observes @Priority(50) StartupEvent event, ExitRegistry registry, MeterRegistry meters) {
        FunctionCounter.builder("splitstream.exit.audit.dropped", registry, ExitRegistry::auditDropped)
                .description("audit events dropped because the database could not take them in time")
                .register(meters);
        registry.start();
    }

    // After the sessions were closed (ExitLifecycle), so their end reaches the registry.
    void onStop(@Observes @Priority(5000) ShutdownEvent event, ExitRegistry registry) {
        registry.stop();
    }
}
