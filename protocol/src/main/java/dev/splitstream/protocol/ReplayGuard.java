package dev.splitstream.protocol;

import java.time.Clock;
import java.time.Duration;

/**
 * Remembers hello nonces for the clock-skew window so a replayed hello is refused. Bounded: at most {@code capacity}
 * nonces; when full, new hellos are refused with LIMIT_EXCEEDED rather than forgetting a nonce still in its window.
 * Thread-safe: one instance serves all connections of a node.
 */
public final class ReplayGuard {
    /** A guard remembering nonces for {@code window}, at most {@code capacity} at once. */
    public ReplayGuard(Duration window, int capacity, Clock clock) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Records a nonce; throws if it was seen within the window or the guard is full.
     *
     * @throws ProtocolException REPLAY or LIMIT_EXCEEDED
     */
    public void check(byte[] nonce) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
