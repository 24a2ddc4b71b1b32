package dev.splitstream.protocol;

import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Remembers the nonces of verified hellos for the clock-skew window so a replayed handshake is refused. Bounded: at most {@code capacity}
 * nonces; when full, new hellos are refused with LIMIT_EXCEEDED rather than forgetting a nonce still in its window.
 * Thread-safe: one instance serves all connections of a node.
 *
 * <p>The window should be at least twice the accepted clock skew (a hello is accepted while its timestamp is within the
 * skew of the server clock, on either side), so a nonce is remembered for as long as its hello could be accepted.
 */
public final class ReplayGuard {
    private final long windowMillis;
    private final int capacity;
    private final Clock clock;
    /** Nonce to the time it may be forgotten; insertion order is (nearly) expiry order. */
    private final LinkedHashMap<ByteBuffer, Long> seen = new LinkedHashMap<>();

    /** A guard remembering nonces for {@code window}, at most {@code capacity} at once. */
    public ReplayGuard(Duration window, int capacity, Clock clock) {
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("window must be positive");
        }
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be positive");
        }
        this.windowMillis = window.toMillis();
        this.capacity = capacity;
        this.clock = clock;
    }

    /**
     * Heap bytes one remembered nonce costs (map entry, key wrapper, 32-byte array, boxed expiry): a full guard of 1 M
     * nonces was seen holding about 175 MB; rounded up.
     */
    public static final int BYTES_PER_NONCE = 200;

    /**
     * A capacity that keeps the guard within {@code 1/fraction} of a heap of {@code maxHeapBytes} (typically
     * {@code Runtime.getRuntime().maxMemory()}), at least 1024 nonces.
     */
    public static int capacityForHeap(long maxHeapBytes, int fraction) {
        if (fraction < 1) {
            throw new IllegalArgumentException("fraction must be positive");
        }
        long n = maxHeapBytes / fraction / BYTES_PER_NONCE;
        return (int) Math.max(1024, Math.min(Integer.MAX_VALUE - 8, n));
    }

    /** A guard for the given limits: remembers nonces for twice the clock skew, at most {@code capacity} at once. */
    public static ReplayGuard forLimits(Limits limits, int capacity, Clock clock) {
        return new ReplayGuard(limits.clockSkew().multipliedBy(2), capacity, clock);
    }

    /**
     * Records a nonce; throws if it was seen within the window or the guard is full.
     *
     * @throws ProtocolException REPLAY or LIMIT_EXCEEDED
     */
    public synchronized void check(byte[] nonce) throws ProtocolException {
        long now = clock.millis();
        Iterator<Map.Entry<ByteBuffer, Long>> it = seen.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<ByteBuffer, Long> e = it.next();
            if (e.getValue() > now) {
                break;
            }
            it.remove();
        }
        ByteBuffer key = ByteBuffer.wrap(nonce.clone());
        Long expiry = seen.get(key);
        if (expiry != null) {
            throw new ProtocolException(CloseCode.REPLAY, "hello nonce was already used: replay refused");
        }
        if (seen.size() >= capacity) {
            throw new ProtocolException(
                    CloseCode.LIMIT_EXCEEDED, "too many handshakes in the replay window (" + capacity + ")");
        }
        seen.put(key, now + windowMillis);
    }

    /** Number of nonces remembered now (for metrics and tests). */
    public synchronized int size() {
        return seen.size();
    }
}
