package dev.splitstream.exit.config;

import dev.splitstream.bridge.Budgets;
import dev.splitstream.protocol.BufferBudget;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/** Validates the configuration once; a wrong value stops the start-up with the key's name. */
@ApplicationScoped
public class ExitSettingsProducer {
    @Produces
    @Singleton
    ExitSettings settings(SplitstreamConfig config) {
        return ExitSettings.from(config);
    }

    /** The node's buffer budget, shared by every stream of every session and every public port. */
    @Produces
    @Singleton
    BufferBudget budget(SplitstreamConfig config, Vertx vertx) {
        BufferBudget budget;
        try {
            budget = Budgets.create(
                    config.buffer().budget().map(MemorySize::asLongValue),
                    config.buffer().streamShare().asLongValue(),
                    config.buffer().stallTimeout());
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
        Budgets.sweep(vertx, budget);
        return budget;
    }
}
