package dev.splitstream.exit.expose;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/** The node's {@link ExposeStore}: in memory (a single exit node). */
@ApplicationScoped
public class ExposeStoreProducer {
    @Produces
    @Singleton
    ExposeStore store() {
        return new MemoryExposeStore();
    }
}
