package dev.splitstream.exit.transport;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.protocol.ReplayGuard;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Clock;

/** The node's one ReplayGuard: every connection checks hello nonces against the same memory. */
@ApplicationScoped
public class NodeReplayGuard {
    // Hellos are accepted within the clock skew on either side, so nonces must be remembered for twice that.
    private static final int CAPACITY = 1_000_000;

    @Produces
    @Singleton
    ReplayGuard replayGuard(ExitSettings settings) {
        return new ReplayGuard(settings.limits().clockSkew().multipliedBy(2), CAPACITY, Clock.systemUTC());
    }
}
