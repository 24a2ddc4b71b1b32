package dev.splitstream.entry.session;

import java.time.Duration;
import java.util.function.DoubleSupplier;

/**
 * Reconnect delays: exponential from {@code min} to {@code max}, with "equal jitter" (a random point in the upper half
 * of the current step) so that many entry nodes cut off at once do not reconnect in lockstep.
 */
public final class Backoff {
    private final long minMillis;
    private final long maxMillis;
    private final DoubleSupplier random;
    private int attempt;

    /** @param random uniform values in [0, 1) */
    public Backoff(Duration min, Duration max, DoubleSupplier random) {
        this.minMillis = Math.max(1, min.toMillis());
        this.maxMillis = Math.max(this.minMillis, max.toMillis());
        this.random = random;
    }

    /** The delay before attempt {@code n} (0-based), without jitter: min * 2^n, capped at max. */
    public long ceilingMillis(int n) {
        long d = minMillis;
        for (int i = 0; i < n && d < maxMillis; i++) {
            d *= 2;
        }
        return Math.min(d, maxMillis);
    }

    /** The delay before the next attempt, in [ceiling/2, ceiling] but never below min; advances the attempt count. */
    public long nextDelayMillis() {
        long ceiling = ceilingMillis(attempt);
        if (attempt < 64) {
            attempt++;
        }
        long half = ceiling / 2;
        long delay = half + (long) (random.getAsDouble() * (ceiling - half + 1));
        return Math.max(minMillis, Math.min(ceiling, delay));
    }

    /** After a successful connection: the next delay starts from min again. */
    public void reset() {
        attempt = 0;
    }

    /** Attempts since the last reset. */
    public int attempts() {
        return attempt;
    }
}
