package dev.splitstream.exit.transport;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.protocol.ReplayGuard;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Clock;
import org.jboss.logging.Logger;

/**
 * The node's one ReplayGuard: every connection checks verified hello nonces against the same memory. Sized from the
 * heap (1/{@value #HEAP_FRACTION} of it), so a full guard can never crowd out sessions; only authenticated handshakes
 * take room in it.
 */
@ApplicationScoped
public class NodeReplayGuard {
    static final int HEAP_FRACTION = 32;
    private static final Logger LOG = Logger.getLogger(NodeReplayGuard.class);

    @Produces
    @Singleton
    ReplayGuard replayGuard(ExitSettings settings, MeterRegistry meters) {
        int capacity = ReplayGuard.capacityForHeap(Runtime.getRuntime().maxMemory(), HEAP_FRACTION);
        LOG.debugf("replay guard holds up to %d nonces", capacity);
        // Hellos are accepted within the clock skew on either side, so nonces must be remembered for twice that.
        ReplayGuard guard = new ReplayGuard(settings.limits().clockSkew().multipliedBy(2), capacity, Clock.systemUTC());
        Gauge.builder("splitstream.exit.replay.nonces", guard, ReplayGuard::size)
                .description("Nonces of verified handshakes remembered against replays (capacity: 1/32 of the heap)")
                .register(meters);
        return guard;
    }
}
