package dev.splitstream.protocol;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A node-wide limit on the stream bytes a node holds in memory, whatever its clients and peers do: bytes read from
 * sockets that the peer has not acknowledged yet, and bytes received from the peer that are not yet written to their
 * socket. Shared by every stream of every session; thread-safe (sockets and sessions run on different threads).
 *
 * <p>Each stream takes a {@link Lease} when it opens. A lease is guaranteed {@code share} bytes; beyond that it borrows
 * from what the other leases leave free. A stream whose lease may take no more ({@link Lease#mayTake()} false) stops
 * reading its socket until {@link Lease#whenMayTake} tells it to go on. A new stream gets a lease only while its share
 * is free ({@link #tryOpen()} returns null otherwise: the caller refuses or delays the stream, saying why).
 *
 * <p>Bound, by construction: leases never commit more than {@code limit} (shares plus borrowed bytes); a lease charges
 * at most one read beyond what it was allowed, and callers read at most {@code share} bytes at a time, so reads alone
 * never take the bytes held past {@code limit + leases * share <= 2 * limit}. Bytes that arrive whether or not this
 * side wants them (the peer's DATA within its window) are refused past that same ceiling, {@code 2 * limit} held
 * ({@link Lease#chargeArrived}): the caller resets the stream instead of holding them. Reads do not look at that
 * ceiling: a stream below its share may always read. So the worst case is arrivals first, up to {@code 2 * limit},
 * then every other stream reading one byte short of its share and then one more share: {@code 4 * limit - 2 * share -
 * (leases - 1)} at the very most (BufferBudgetTest plays that schedule). Floods in the end-to-end tests and the soak
 * held about twice the limit.
 *
 * <p>Stalled streams: a stream that holds bytes, or cannot read ({@link Lease#blocked}), and released none for the
 * stall time (its target or client stopped reading, or its client left while its bytes wait unread) is evicted by {@link
 * #evictStalled()} once the budget is under pressure: its {@link Lease#onEvict} callback resets it, so the budget recovers even when the parties
 * that stopped reading never come back.
 *
 * <p>Fairness: a flood of streams that stop moving must not lock new streams out for the stall time. When the budget is
 * spent, {@link #tryOpen()} takes the place of a stuck stream (its socket took none of the bytes queued to it, or its
 * peer gave it no credit, for {@link #PREEMPT_AFTER}) (the one holding the most bytes, then the longest stalled): that lease is closed at once and its {@link Lease#onEvict}
 * callback resets its stream. Streams that move bytes, and streams that hold none, are not preempted for that. Sources ({@link #tryOpen(Object)}: a client's address) are treated fairly besides: when no stream is
 * stalled, a new stream of a source takes the place of a stream holding bytes (the most, then the least recently
 * moving) of the source holding the most leases, if that source holds more than a quarter of the streams the budget can hold and
 * at least two more than the new stream's source, so one client's flood of streams that trickle cannot lock the others
 * out either; streams that hold nothing are never taken (an idle one may look blocked: it waits to return credit). The preempted stream's bytes are dropped by its callback on its own thread, so the bytes held may exceed
 * the bound above by those of streams being reset, for the moment that takes.
 */
public final class BufferBudget {
    private final long limit;
    private final int share;
    private final long wakeBelow;
    private final long stallNanos;
    private final long preemptNanos;
    private final java.util.function.LongSupplier clock;

    // guarded by this
    private long reserved;
    private long borrowed;
    private long held;
    private int leases;
    private long refused;
    private final Set<Lease> waiting = new LinkedHashSet<>();
    private final Set<Lease> open = new LinkedHashSet<>();
    private final Map<Object, Integer> bySource = new HashMap<>();
    private long evicted;
    private long preempted;
    private long preemptedAtSweep;
    /** Streams of a client holding far the most, reset for another client's new stream (fairness, not spent). */
    private long displaced;
    /** Streams refused bytes past the ceiling ({@link Lease#chargeArrived}; their callers reset them), each once. */
    private long overruns;
    /** Bytes all open leases' receive windows grew beyond their initial size ({@link Lease#growWindow}). */
    private long windowGrowth;
    /** {@link #evictStalled} keeps evicting stalled leases until none is left (see there). */
    private boolean pressure;

    /**
     * How long a stream must have moved nothing (holding bytes, or unable to read) before a new stream may take its
     * place while the budget is spent (at most the stall time).
     */
    public static final java.time.Duration PREEMPT_AFTER = java.time.Duration.ofSeconds(2);

    /**
     * @param limit bytes all leases together may commit (shares plus borrowed bytes)
     * @param share bytes each lease is guaranteed, and the most a caller should read from a socket at once
     */
    public BufferBudget(long limit, int share) {
        this(limit, share, java.time.Duration.ofSeconds(30), System::nanoTime);
    }

    /**
     * @param limit bytes all leases together may commit (shares plus borrowed bytes)
     * @param share bytes each lease is guaranteed, and the most a caller should read from a socket at once
     * @param stall how long a lease may hold bytes without releasing any before {@link #evictStalled} ends it
     * @param clock nanoseconds, monotonic
     */
    public BufferBudget(long limit, int share, java.time.Duration stall, java.util.function.LongSupplier clock) {
        if (share < 1024) {
            throw new IllegalArgumentException("share must be at least 1024 bytes, was " + share);
        }
        if (limit < 4L * share) {
            throw new IllegalArgumentException("limit (" + limit + ") must be at least 4 shares (" + 4L * share + ")");
        }
        this.limit = limit;
        this.share = share;
        // Hysteresis: paused streams wake once an eighth of the budget is free again, not at every released byte.
        this.wakeBelow = limit - limit / 8;
        this.stallNanos = stall.toNanos();
        this.preemptNanos = Math.min(stallNanos, PREEMPT_AFTER.toNanos());
        this.clock = clock;
    }

    /** A budget that never refuses (tests and tools; 2^62 bytes). */
    public static BufferBudget unlimited() {
        return new BufferBudget(1L << 62, 64 * 1024);
    }

    /**
     * The default limit for a JVM whose heap (and direct memory, where held bytes wait for their socket) may grow to
     * {@code maxMemory} bytes: a quarter of it, at least 4 MiB.
     */
    public static long defaultLimit(long maxMemory) {
        return Math.max(4L * 1024 * 1024, maxMemory / 4);
    }

    /** Bytes all leases together may commit. */
    public long limit() {
        return limit;
    }

    /** Bytes each lease is guaranteed; also the largest read a caller should make at once. */
    public int share() {
        return share;
    }

    /**
     * How far all streams' receive windows together may grow beyond their initial size: half the limit. With the
     * initial windows (1 MiB on both nodes) this keeps what a peer may send within its windows under the ceiling of
     * {@link Lease#chargeArrived} unless more than about a dozen streams whose readers all stopped are open.
     */
    public long windowGrowthLimit() {
        return limit / 2;
    }

    /** Bytes the open streams' receive windows grew beyond their initial size, together. */
    public synchronized long windowGrowth() {
        return windowGrowth;
    }

    /** Stream bytes held now (charged and not yet released). */
    public synchronized long held() {
        return held;
    }

    /** Bytes committed now: the shares of open leases plus what they borrowed beyond them. */
    public synchronized long committed() {
        return reserved + borrowed;
    }

    /** Leases open now (one per stream). */
    public synchronized int leases() {
        return leases;
    }

    /** Streams refused a lease so far because the budget was spent. */
    public synchronized long refused() {
        return refused;
    }

    /** Streams evicted so far by {@link #evictStalled} (stalled while the budget was under pressure). */
    public synchronized long evicted() {
        return evicted;
    }

    /** Stuck streams reset so far to make room for a new stream ({@link #tryOpen()} preempted them). */
    public synchronized long preempted() {
        return preempted;
    }

    /**
     * Streams reset so far because the node would not hold more of the peer's bytes (past the ceiling of {@link
     * Lease#chargeArrived}), each counted once however many of its arrivals were refused.
     */
    public synchronized long overruns() {
        return overruns;
    }

    /**
     * Streams reset so far for fairness: of a client address holding far the most streams, to make room for another
     * client's new stream while nothing was stuck (see the class comment). Not counted in {@link #preempted()}.
     */
    public synchronized long displaced() {
        return displaced;
    }

    /**
     * Ends (through their {@link Lease#onEvict} callbacks, run on this thread) the leases that hold bytes (or cannot
     * read) and released none for the stall time, while the budget is under pressure: from a call that finds more than
     * half of it committed, or a stream preempted since the last call, until a call finds no lease that holds bytes or
     * cannot read (so the stalled streams of a flood all end, also those that stalled after the budget had room
     * again). Call periodically.
     *
     * @return how many were evicted
     */
    public int evictStalled() {
        List<Runnable> evict = new ArrayList<>();
        synchronized (this) {
            if (reserved + borrowed > limit / 2 || preempted + displaced > preemptedAtSweep) {
                pressure = true;
            }
            preemptedAtSweep = preempted + displaced;
            if (!pressure) {
                return 0;
            }
            long now = clock.getAsLong();
            boolean stalling = false;
            for (Lease lease : open) {
                if ((lease.mine > 0 || lease.blocked) && lease.evictor != null) {
                    long since = lease.blocked ? Math.max(lease.lastProgress, lease.blockedAt) : lease.lastProgress;
                    if (now - since > stallNanos) {
                        evict.add(lease.evictor);
                        lease.evictor = null;
                        evicted++;
                    } else {
                        stalling = true;
                    }
                }
            }
            pressure = stalling;
        }
        evict.forEach(Runnable::run);
        return evict.size();
    }

    /** True when a new stream would be refused now: no room for its share, and no stalled stream to take the place of. */
    public synchronized boolean isSpent() {
        return reserved + borrowed + share > limit && preemptable(clock.getAsLong()) == null;
    }

    /**
     * A lease for a new stream, or null when the budget cannot guarantee its share (refuse or delay the stream). When
     * the budget is spent, stalled streams give way first (see the class comment): their leases are closed here and
     * their {@link Lease#onEvict} callbacks run on this thread before this returns.
     */
    public Lease tryOpen() {
        return tryOpen(null);
    }

    /**
     * As {@link #tryOpen()}, for a stream of {@code source} (a client's address; null: none): when the budget is spent
     * and no stream is stalled, a source holding far more streams than this one gives way (see the class comment).
     */
    public Lease tryOpen(Object source) {
        List<Runnable> evict = new ArrayList<>();
        Lease lease = null;
        synchronized (this) {
            long now = clock.getAsLong();
            while (reserved + borrowed + share > limit) {
                Lease victim = preemptable(now);
                boolean fairness = false;
                if (victim == null) {
                    victim = unfair(source);
                    fairness = true;
                }
                if (victim == null) {
                    break;
                }
                evict.add(victim.evictor);
                victim.evictor = null;
                victim.closeLocked();
                if (fairness) {
                    displaced++;
                } else {
                    preempted++;
                }
            }
            if (reserved + borrowed + share > limit) {
                refused++;
            } else {
                reserved += share;
                leases++;
                lease = new Lease(now, source);
                open.add(lease);
                if (source != null) {
                    bySource.merge(source, 1, Integer::sum);
                }
            }
        }
        evict.forEach(Runnable::run);
        return lease;
    }

    /**
     * The lease a new stream of {@code source} may take the place of when none is stalled: of the source holding the
     * most leases (if that is another source holding more than a quarter of the leases the budget can hold and at
     * least two more than {@code source}), the lease holding the most bytes, then the least recently moving; never one
     * that holds nothing. Null if none.
     */
    private Lease unfair(Object source) {
        if (source == null || bySource.isEmpty()) {
            return null;
        }
        Map.Entry<Object, Integer> top = null;
        for (Map.Entry<Object, Integer> e : bySource.entrySet()) {
            if (top == null || e.getValue() > top.getValue()) {
                top = e;
            }
        }
        int mine = bySource.getOrDefault(source, 0);
        if (top.getKey().equals(source) || top.getValue() < mine + 2 || top.getValue() <= limit / share / 4) {
            return null;
        }
        Lease best = null;
        for (Lease lease : open) {
            if (lease.evictor == null || !top.getKey().equals(lease.source) || lease.mine == 0) {
                continue; // streams holding nothing are never taken
            }
            if (best == null
                    || lease.queued > best.queued
                    || (lease.queued == best.queued && lease.mine > best.mine)
                    || (lease.queued == best.queued
                            && lease.mine == best.mine
                            && lease.lastProgress < best.lastProgress)) {
                best = lease;
            }
        }
        return best;
    }

    /**
     * The stalled lease a new stream may take the place of: it holds bytes and moved nothing for {@link
     * #PREEMPT_AFTER}; of those, the one holding the most bytes, then the longest stalled. Null if none.
     */
    private Lease preemptable(long now) {
        Lease best = null;
        long bestSince = 0;
        for (Lease lease : open) {
            long since = lease.stuckSince();
            if (lease.evictor == null || since == Long.MAX_VALUE || now - since < preemptNanos) {
                continue;
            }
            if (best == null || lease.mine > best.mine || (lease.mine == best.mine && since < bestSince)) {
                best = lease;
                bestSince = since;
            }
        }
        return best;
    }

    /** A one-line description for logs and refusals: use, limit and leases. */
    public synchronized String describe() {
        return String.format(
                "%.1f MiB of %.1f MiB committed by %d streams (%.1f MiB held)",
                (reserved + borrowed) / 1048576.0, limit / 1048576.0, leases, held / 1048576.0);
    }

    /** Wakes the waiting leases once the budget has room again, and {@code released} if it may take more itself. */
    private void wakeIfRoom(Lease released) {
        List<Runnable> wake = new ArrayList<>();
        synchronized (this) {
            if (waiting.isEmpty()) {
                return;
            }
            if (reserved + borrowed <= wakeBelow) {
                for (Lease lease : waiting) {
                    wake.add(lease.waiter);
                    lease.waiter = null;
                }
                waiting.clear();
            } else if (released != null && released.waiter != null && released.mayTakeLocked()) {
                wake.add(released.waiter);
                released.waiter = null;
                waiting.remove(released);
            }
        }
        // Outside the lock: a waiter typically hops to its socket's thread.
        wake.forEach(Runnable::run);
    }

    /** One stream's part of the budget. Thread-safe. */
    public final class Lease {
        // guarded by BufferBudget.this
        private long mine;
        private boolean closed;
        private Runnable waiter;
        private long lastProgress;
        private Runnable evictor;
        private boolean blocked;
        private long blockedAt;
        /** Bytes arrived from the peer and not yet written to the socket ({@link #chargeArrived}, {@link #written}). */
        private long queued;

        private boolean starved;
        private long starvedAt;

        /** Bytes this stream's receive window grew beyond its initial size ({@link #growWindow}). */
        private long grownWindow;

        private final Object source;

        /** An arrival was refused (counted once in {@link BufferBudget#overruns()}). */
        private boolean overrun;

        private Lease(long now, Object source) {
            this.lastProgress = now;
            this.source = source;
        }

        /**
         * Whether the stream cannot read now (its peer gives no credit, or the budget has no room): a blocked stream
         * that releases nothing for the stall time counts as stalled even when it holds no bytes.
         */
        public void blocked(boolean value) {
            synchronized (BufferBudget.this) {
                if (value && !blocked) {
                    blockedAt = clock.getAsLong();
                }
                blocked = value;
            }
        }

        /** What ends this stream when {@link #evictStalled} finds it stalled (any thread; run at most once). */
        public void onEvict(Runnable evict) {
            synchronized (BufferBudget.this) {
                evictor = closed ? null : evict;
            }
        }

        private long over(long bytes) {
            return Math.max(0, bytes - share);
        }

        private void add(long n) {
            long before = over(mine);
            mine += n;
            held += n;
            borrowed += over(mine) - before;
        }

        private boolean mayTakeLocked() {
            return !closed && (mine < share || reserved + borrowed < limit);
        }

        /**
         * Charges {@code n} bytes this node now holds for the stream (read from its socket).
         *
         * @return true while the stream may read more; false: stop reading and wait for {@link #whenMayTake}
         */
        public boolean charge(long n) {
            synchronized (BufferBudget.this) {
                if (closed) {
                    return false;
                }
                add(n);
                return mayTakeLocked();
            }
        }

        /**
         * Since when this stream is stuck, or {@link Long#MAX_VALUE}: its socket takes none of the bytes queued to it,
         * or its peer gives it no credit while it has bytes to send. Bytes that only wait for the peer's
         * acknowledgement do not count: under a flood, acknowledgements queue behind the flood's frames on a shared
         * connection, and a busy stream would look stuck.
         */
        private long stuckSince() {
            long since = Long.MAX_VALUE;
            if (queued > 0) {
                since = lastProgress;
            }
            if (starved) {
                since = Math.min(since, Math.max(lastProgress, starvedAt));
            }
            return since;
        }

        /**
         * Whether the stream has bytes to send and its peer gives it no credit (the far side does not read): with
         * {@link #blocked}, what makes a stream a candidate to give way to a new one ({@link #tryOpen}).
         */
        public void starved(boolean value) {
            synchronized (BufferBudget.this) {
                if (value && !starved) {
                    starvedAt = clock.getAsLong();
                }
                starved = value;
            }
        }

        /** Releases {@code n} bytes that arrived from the peer and are now written to the socket. */
        public void written(long n) {
            synchronized (BufferBudget.this) {
                if (!closed) {
                    queued = Math.max(0, queued - n);
                }
            }
            release(n);
        }

        /**
         * Charges {@code n} bytes that arrived from the peer, unless holding them would take the node past twice its
         * limit (and this stream is past its share): then nothing is charged and the caller must drop the bytes and
         * reset the stream.
         *
         * @return false when the bytes must not be kept
         */
        public boolean chargeArrived(long n) {
            synchronized (BufferBudget.this) {
                if (closed) {
                    return false;
                }
                if (mine + n > share && held + n > 2 * limit) {
                    if (!overrun) {
                        overrun = true;
                        overruns++;
                    }
                    return false;
                }
                add(n);
                queued += n;
                return true;
            }
        }

        /** Releases {@code n} bytes the node no longer holds (acknowledged by the peer, or written to the socket). */
        public void release(long n) {
            synchronized (BufferBudget.this) {
                if (closed || n <= 0) {
                    return;
                }
                long m = Math.min(n, mine);
                lastProgress = clock.getAsLong();
                long before = over(mine);
                mine -= m;
                held -= m;
                borrowed -= before - over(mine);
            }
            wakeIfRoom(this);
        }

        /** True while the stream may read more. */
        public boolean mayTake() {
            synchronized (BufferBudget.this) {
                return mayTakeLocked();
            }
        }

        /** Bytes this lease holds now. */
        public long held() {
            synchronized (BufferBudget.this) {
                return mine;
            }
        }

        /**
         * Runs {@code resume} once the stream may read again: at once (on this thread) if it may now, else on the thread
         * that releases enough of the budget. Replaces an earlier waiter. Never runs after {@link #close()}.
         */
        public void whenMayTake(Runnable resume) {
            synchronized (BufferBudget.this) {
                if (closed) {
                    return;
                }
                if (!mayTakeLocked()) {
                    waiter = resume;
                    waiting.add(this);
                    return;
                }
            }
            resume.run();
        }

        /**
         * The stream's receive window would grow by {@code wanted} bytes: returns how much of it this budget backs (0
         * once the node's streams together grew their windows by {@link #windowGrowthLimit()}). Credit a node grants is
         * credit its peers may use: windows that grew without this bound let a few fast streams whose readers then
         * paused (a target in a collection, a loaded host) receive more than the budget holds, and those streams were
         * reset ({@link #chargeArrived}) although their peer kept to its window.
         */
        public int growWindow(int wanted) {
            synchronized (BufferBudget.this) {
                if (closed || wanted <= 0) {
                    return 0;
                }
                int granted = (int) Math.max(0, Math.min(wanted, windowGrowthLimit() - windowGrowth));
                windowGrowth += granted;
                grownWindow += granted;
                return granted;
            }
        }

        /** Gives back the share and everything still charged (the stream ended). Idempotent. */
        public void close() {
            synchronized (BufferBudget.this) {
                if (closed) {
                    return;
                }
                closeLocked();
            }
            wakeIfRoom(null);
        }

        private void closeLocked() {
            closed = true;
            windowGrowth -= grownWindow;
            grownWindow = 0;
            held -= mine;
            borrowed -= over(mine);
            mine = 0;
            reserved -= share;
            leases--;
            waiter = null;
            evictor = null;
            waiting.remove(this);
            open.remove(this);
            if (source != null) {
                bySource.computeIfPresent(source, (k, n) -> n > 1 ? n - 1 : null);
            }
        }
    }
}
