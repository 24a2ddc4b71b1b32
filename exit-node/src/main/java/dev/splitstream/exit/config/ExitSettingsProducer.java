package dev.splitstream.exit.config;

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
}
