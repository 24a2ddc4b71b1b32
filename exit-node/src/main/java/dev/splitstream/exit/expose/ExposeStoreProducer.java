package dev.splitstream.exit.expose;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.registry.ExitRegistry;
import dev.splitstream.exit.registry.PostgresRegistry;
import dev.splitstream.exit.registry.RegistrySettings;
import io.agroal.api.AgroalDataSource;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * The node's {@link ExposeStore}: in memory for a single exit node, in PostgreSQL (shared by the replicas) with
 * {@code splitstream.exit.registry=postgres}.
 */
@ApplicationScoped
public class ExposeStoreProducer {
    @Produces
    @Singleton
    ExposeStore store(
            RegistrySettings registrySettings,
            ExitSettings settings,
            ExitRegistry registry,
            RouteTokens routeTokens,
            Instance<AgroalDataSource> dataSource) {
        if (!registrySettings.postgres()) {
            return new MemoryExposeStore();
        }
        PostgresExposeStore store = new PostgresExposeStore(
                dataSource.get(),
                registrySettings.replicaId(),
                settings.expose().lease(),
                registrySettings.offlineAfter(),
                routeTokens);
        if (registry instanceof PostgresRegistry pg) {
            String own = PostgresExposeStore.NOTE_PREFIX + registrySettings.replicaId();
            pg.subscribe(payload -> {
                if (payload.startsWith(PostgresExposeStore.NOTE_PREFIX) && !payload.equals(own)) {
                    store.changed();
                }
            });
        }
        return store;
    }

    // After the registry started listening (priority 50): notifications published from now on reach the store.
    void onStart(@Observes @Priority(60) StartupEvent event, ExposeStore store) {
        store.start();
    }

    // After the sessions were closed (their agents' leases start counting down), before the registry stops.
    void onStop(@Observes @Priority(4900) ShutdownEvent event, ExposeStore store) {
        store.stop();
    }
}
