package dev.splitstream.exit.expose;

import java.time.Instant;
import java.util.Optional;

/**
 * A public TCP port held by a service identity.
 *
 * @param key who holds it
 * @param port the public port
 * @param expires empty while the agent is connected; else when the port is freed unless the agent comes back
 */
public record Lease(ServiceKey key, int port, Optional<Instant> expires) {
    /** True when the lease ran out at {@code now}. */
    public boolean expiredAt(Instant now) {
        return expires.isPresent() && !expires.get().isAfter(now);
    }
}
