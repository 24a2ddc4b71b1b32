package dev.splitstream.exit.transport;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Slots of something a client holds for a while (a pending handshake, a connection), bounded in total and per source
 * address, so one source cannot take the slots every other source needs. Thread-safe; the per-source map only holds
 * sources with a slot taken, so it is bounded by the total.
 */
public final class SourceSlots {
    private final int max;
    private final int maxPerSource;
    private final AtomicInteger total = new AtomicInteger();
    private final ConcurrentHashMap<String, AtomicInteger> bySource = new ConcurrentHashMap<>();

    public SourceSlots(int max, int maxPerSource) {
        if (max < 1 || maxPerSource < 1) {
            throw new IllegalArgumentException("limits must be positive");
        }
        this.max = max;
        this.maxPerSource = maxPerSource;
    }

    /** Why a slot was refused. */
    public enum Refusal {
        NONE,
        TOTAL,
        SOURCE
    }

    /** Takes a slot for {@code source}; {@link Refusal#NONE} when taken, else which limit refused it. */
    public Refusal acquire(String source) {
        if (total.incrementAndGet() > max) {
            total.decrementAndGet();
            return Refusal.TOTAL;
        }
        boolean[] taken = {false};
        bySource.compute(source, (k, n) -> {
            AtomicInteger c = n == null ? new AtomicInteger() : n;
            if (c.get() < maxPerSource) {
                c.incrementAndGet();
                taken[0] = true;
            }
            return c.get() == 0 ? null : c;
        });
        if (!taken[0]) {
            total.decrementAndGet();
            return Refusal.SOURCE;
        }
        return Refusal.NONE;
    }

    /** Gives back a slot {@link #acquire} took for {@code source}. */
    public void release(String source) {
        bySource.computeIfPresent(source, (k, c) -> c.decrementAndGet() <= 0 ? null : c);
        total.decrementAndGet();
    }

    /** Slots taken now. */
    public int size() {
        return total.get();
    }

    /** Slots {@code source} holds now. */
    public int held(String source) {
        AtomicInteger c = bySource.get(source);
        return c == null ? 0 : c.get();
    }

    public int max() {
        return max;
    }

    public int maxPerSource() {
        return maxPerSource;
    }
}
