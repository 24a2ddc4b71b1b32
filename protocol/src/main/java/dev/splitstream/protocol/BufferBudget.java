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
 * <p>Idle streams lend their share: a stream that holds nothing and moved nothing for {@link #IDLE_AFTER} (an ssh or
 * database-pool connection left open) keeps its lease, but a new stream that finds no room takes its share ({@link
 * #tryOpen}: the longest idle first, before any stuck stream gives way; at most {@link #maxDormant()} at once). The idle
 * stream becomes <em>dormant</em>: no reset, nothing lost. When it next reads or receives it claims a share back as a
 * newcomer would (free room, another idle stream's, a stuck stream's, never by fairness), and until it has one it is
 * told to stop reading ({@link Lease#mayTake()} false) and holds back its peer's credit; it wakes when a share's room
 * appears, or at the next sweep ({@link #evictStalled}) when an idle or stuck stream could give it one. So open streams
 * are not limited to {@code limit / share}: only streams that move need a share.
 *
 * <p>Bound, by construction, on the bytes held ({@code H}), for callers that read at most {@code share} bytes at a time
 * and stop reading when {@link Lease#charge} returns false until {@link Lease#whenMayTake} runs. Let {@code C} be the
 * committed bytes (the shares of leases that are not dormant, {@code R <= limit}, plus every byte past a lease's share,
 * a dormant lease's share being 0); bytes within shares are at most {@code R}, so {@code H <= C}. {@code C} grows only
 * by (1) a share, reserved only while {@code C + share <= limit}, or in place of a stream that gave way and freed at
 * least as much ({@code C} does not grow then); (2) bytes that arrived past a stream's share, kept
 * only while {@code C} stays within {@code 2 * limit} ({@link Lease#chargeArrived}; past it the stream is reset); (3)
 * reads past a share. From the last moment {@code C <= 2 * limit} on, (1) and (2) add nothing and {@code C > limit},
 * so a lease may start a read only below its share, and each lease adds at most one read past its share (the read it
 * had started, or one begun below its share) before it must first give bytes back: {@code C <= 2 * limit + leases *
 * share}. A read may be larger than a share ({@link Lease#reserveRead}) only while {@code C}, with the extra bytes
 * reserved and counted in it until the read is charged, stays within {@code limit / 2}: such reads happen only far
 * from the ceiling, and the bound stands. Leases number at most {@code limit / share + maxDormant() = 1.5 * limit /
 * share}, so {@code H <= 3.5 * limit}; the schedule that reaches it: one stream receives up to the ceiling, then every
 * other lease fills its share and reads once more, and every dormant stream reads once without getting a share back
 * ({@code BufferBudgetTest}).
 * Every held byte may be a direct buffer at once (queued to a socket that does not take it), so a budget must stay
 * within 2/7 of the direct memory (and heap): {@code Budgets}.
 *
 * <p>Stalled streams: a stream that holds bytes, or cannot read ({@link Lease#blocked}), and released none for the
 * stall time (its target or client stopped reading, or its client left while its bytes wait unread) is evicted by {@link
 * #evictStalled()} once the budget is under pressure: its {@link Lease#onEvict} callback resets it, so the budget recovers even when the parties
 * that stopped reading never come back. A dormant stream that holds nothing and waits to claim a share back is never
 * evicted so: it costs the budget nothing, and it cannot read only because the budget has no share to give it back.
 *
 * <p>Fairness: a flood of streams that stop moving must not lock new streams out for the stall time. When the budget is
 * spent, {@link #tryOpen()} takes the place of a stuck stream (its socket took none of the bytes queued to it, or its
 * peer gave it no credit, for {@link #PREEMPT_AFTER}, and it moved no bytes itself for {@link #IDLE_AFTER}) (the one
 * holding the most bytes, then the longest stalled): that lease is closed at once and its {@link Lease#onEvict}
 * callback resets its stream. Sources ({@link #tryOpen(Object)}: a client's address) are treated fairly besides: when
 * no stream is stalled, a new stream of a source takes the place of a stream of the source holding the most leases, if
 * that source holds more than a quarter of the streams the budget can hold and at least two more than the new stream's
 * source, so one client's flood of streams cannot lock the others out either. Any of that source's streams that costs
 * the budget something may give way (its reserved share plus the bytes it holds: also a stream holding nothing, since
 * a flood's streams have their bytes acknowledged and spend the budget by their shares alone), never a dormant one
 * (it reserves nothing). Streams whose peer sent them bytes within the stall time go last (an interactive connection
 * from the flood's address gets its answers; a flood into a target that never reads gets none), and otherwise the one
 * opened last goes first (a connection from before a flood keeps its place). One stream gives way per new stream: its
 * freed share is the new one's, so the committed bytes do not grow, and bytes other streams borrowed past the limit
 * are not freed by resetting more. The preempted stream's bytes are dropped by its callback on its own thread, so the
 * bytes held may exceed the bound above by those of streams being reset, for the moment that takes.
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
    /** New streams waiting for a share ({@link #openOrWait}), oldest first. */
    private final java.util.ArrayDeque<Waiter> newWaiters = new java.util.ArrayDeque<>();
    /** The dormant ones of {@link #waiting}: they need only a share of room to claim theirs back. */
    private final Set<Lease> dormantWaiting = new LinkedHashSet<>();

    private final Set<Lease> open = new LinkedHashSet<>();
    private final Map<Object, Integer> bySource = new HashMap<>();
    private long evicted;
    private long preempted;
    private long preemptedAtSweep;
    /** Leases open now without a share: they lent it while idle ({@link #IDLE_AFTER}). */
    private int dormant;
    /** Shares lent so far by idle streams (each made a stream dormant; none was reset for it). */
    private long lent;
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
     * How long a stream must have held nothing and moved nothing before it lends its share to a stream that needs one
     * (it becomes dormant, see the class comment); also how recently a stream must have moved bytes to never be chosen
     * to give way (an interactive stream between two exchanges keeps its place).
     */
    public static final java.time.Duration IDLE_AFTER = java.time.Duration.ofSeconds(2);

    private static final long IDLE_NANOS = IDLE_AFTER.toNanos();

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

    /** Leases open now without a share: they lent it to another stream while idle (see the class comment). */
    public synchronized int dormant() {
        return dormant;
    }

    /** Shares lent so far by idle streams (each made a stream dormant; none was reset for it). */
    public synchronized long lent() {
        return lent;
    }

    /**
     * How many streams may be dormant at once: half as many as the budget has shares. Each may read once (at most a
     * share) before it finds it cannot claim a share back, so this bounds what dormant streams add to the bytes held
     * (see the class comment), and it caps open streams at one and a half times {@code limit / share}.
     */
    public int maxDormant() {
        return (int) (limit / share / 2);
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
     * again). Call periodically. Never a dormant lease that holds nothing and waits to claim a share back (ending it
     * gives the budget nothing back; it waits only for a share the budget has not got), nor one this call woke to
     * claim its share back.
     *
     * @return how many were evicted
     */
    public int evictStalled() {
        Set<Lease> woken = wakeClaimable(Integer.MAX_VALUE);
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
                if ((lease.dormant && lease.mine == 0 && dormantWaiting.contains(lease)) || woken.contains(lease)) {
                    // A dormant stream that holds nothing and waits to claim a share back is blocked only because the
                    // budget has no share for it, and ending it makes no room (an ExposeE2E connection that waited for
                    // its agent through a flood was reset so, once its wait passed the stall time); one just woken to
                    // claim a share is about to read again (its socket thread has not seen it yet). A dormant stream
                    // blocked for another reason (its client left and the far side never answers) still ends.
                    continue;
                }
                if ((lease.mine > 0 || lease.blocked) && lease.evictor != null) {
                    long since = lease.blocked ? Math.max(lease.lastProgress, lease.blockedAt) : lease.lastProgress;
                    if (now - since > stallNanos) {
                        lease.evictedFor = String.format(
                                "stalled: %s for %d s while the budget was under pressure",
                                lease.stateLocked(), (now - since) / 1_000_000_000L);
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

    /**
     * Wakes the dormant streams waiting to claim a share back that would get one now from an idle stream or a stuck one
     * (room alone wakes them as it appears, {@link #wakeIfRoom}), the oldest {@code most} of them looked at: all by each
     * sweep ({@link #evictStalled}), four by each {@link #admitWaiting}. Returns those woken.
     */
    private Set<Lease> wakeClaimable(int most) {
        List<Runnable> wake = new ArrayList<>();
        Set<Lease> woken = new java.util.HashSet<>();
        synchronized (this) {
            long now = clock.getAsLong();
            int looked = 0;
            for (var it = dormantWaiting.iterator(); it.hasNext() && looked++ < most; ) {
                Lease lease = it.next();
                if (lease.mayClaimLocked(now)) {
                    woken.add(lease);
                    wake.add(lease.waiter);
                    lease.waiter = null;
                    waiting.remove(lease);
                    it.remove();
                }
            }
        }
        wake.forEach(Runnable::run);
        return woken;
    }

    /** True when a new stream would be refused now: no room for its share, and no stalled stream to take the place of. */
    public synchronized boolean isSpent() {
        long now = clock.getAsLong();
        return reserved + borrowed + share > limit && preemptable(now, null) == null && !lendingSuffices(now, null);
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
            if (!makeRoomLocked(now, source, null, evict)) {
                refused++;
            } else {
                lease = openLocked(now, source);
            }
        }
        evict.forEach(Runnable::run);
        return lease;
    }

    /** A new lease (the lock held; {@link #makeRoomLocked} made room for its share). */
    private Lease openLocked(long now, Object source) {
        reserved += share;
        leases++;
        Lease lease = new Lease(now, source);
        open.add(lease);
        if (source != null) {
            bySource.merge(source, 1, Integer::sum);
        }
        return lease;
    }

    /**
     * How many new streams may wait for a share at once ({@link #openOrWait}): half as many as the budget has shares, at
     * least 16.
     */
    public int maxWaiting() {
        return (int) Math.max(16, limit / share / 2);
    }

    /**
     * True when a new stream would be refused now: no share for it ({@link #isSpent()}) and {@link #maxWaiting()}
     * streams wait for one already ({@link #openOrWait}).
     */
    public boolean isSpentForNew() {
        synchronized (this) {
            if (mayWaitLocked()) {
                return false;
            }
        }
        return isSpent();
    }

    /**
     * Whether one more new stream may wait for a share (the lock held): only while streams that hold nothing and wait
     * for nothing (they become idle and lend their share once they moved nothing for {@link #IDLE_AFTER}) outnumber
     * the streams waiting already, and may still become dormant, and fewer than {@link #maxWaiting()} wait. Under a flood
     * streams hold bytes, so new ones are refused at once (and clients retry) rather than queued behind the flood.
     */
    private boolean mayWaitLocked() {
        int queued = newWaiters.size();
        if (queued >= maxWaiting() || maxDormant() - dormant <= queued) {
            return false;
        }
        int quiet = 0;
        for (Lease lease : open) {
            if (lease.quiet() && ++quiet > queued) {
                return true;
            }
        }
        return false;
    }

    /** New streams waiting for a share now. */
    public synchronized int waiting() {
        return newWaiters.size();
    }

    /**
     * As {@link #tryOpen(Object)}, but a new stream that finds no share may wait for one (a burst of connections arrives
     * faster than earlier streams become idle and lend theirs): {@code granted} gets the lease, on this thread before
     * this returns when there is room now, else on the thread of a later {@link #admitWaiting} (first come, first
     * served). Returns null when {@link #maxWaiting()} streams wait already: the stream is refused (counted). The caller
     * gives up waiting with {@link Waiter#cancel} (also counted as refused).
     */
    public Waiter openOrWait(Object source, java.util.function.Consumer<Lease> granted) {
        Lease lease = tryOpenQuietly(source);
        Waiter w = new Waiter(source, granted);
        if (lease != null) {
            w.done = true;
            granted.accept(lease);
            return w;
        }
        synchronized (this) {
            if (!mayWaitLocked()) {
                refused++;
                return null;
            }
            newWaiters.addLast(w);
            return w;
        }
    }

    /** {@link #tryOpen(Object)} without counting a refusal. */
    private Lease tryOpenQuietly(Object source) {
        List<Runnable> evict = new ArrayList<>();
        Lease lease = null;
        synchronized (this) {
            long now = clock.getAsLong();
            if (makeRoomLocked(now, source, null, evict)) {
                lease = openLocked(now, source);
            }
        }
        evict.forEach(Runnable::run);
        return lease;
    }

    /**
     * Gives shares to the new streams waiting for one ({@link #openOrWait}), first come first served, as long as {@link
     * #tryOpen} would give them one. Call often (the nodes do every 100 ms); cheap when nobody waits.
     */
    public void admitWaiting() {
        wakeClaimable(4);
        List<Runnable> evict = new ArrayList<>();
        List<Runnable> grant = new ArrayList<>();
        synchronized (this) {
            long now = clock.getAsLong();
            // One failed attempt per source and call: another client's stream may get the place of a stream of a
            // source holding far more (fairness), while the rest of that source's waiters would fail the same way.
            Set<Object> failed = new java.util.HashSet<>();
            boolean noSourceFailed = false;
            for (var it = newWaiters.iterator(); it.hasNext(); ) {
                Waiter w = it.next();
                if (w.source == null ? noSourceFailed : failed.contains(w.source)) {
                    continue;
                }
                if (!makeRoomLocked(now, w.source, null, evict)) {
                    if (w.source == null) {
                        noSourceFailed = true;
                    } else {
                        failed.add(w.source);
                    }
                    continue;
                }
                it.remove();
                w.done = true;
                Lease lease = openLocked(now, w.source);
                grant.add(() -> w.granted.accept(lease));
            }
        }
        evict.forEach(Runnable::run);
        grant.forEach(Runnable::run);
    }

    /** A new stream waiting for a share ({@link #openOrWait}). */
    public final class Waiter {
        private final Object source;
        private final java.util.function.Consumer<Lease> granted;
        // guarded by BufferBudget.this
        private boolean done;

        private Waiter(Object source, java.util.function.Consumer<Lease> granted) {
            this.source = source;
            this.granted = granted;
        }

        /**
         * Stops waiting: true if no lease was granted (the stream is refused, and counted so); false if one was, or is
         * being, handed to the callback (which must then close it if the stream is gone).
         */
        public boolean cancel() {
            synchronized (BufferBudget.this) {
                if (done) {
                    return false;
                }
                done = true;
                newWaiters.remove(this);
                refused++;
                return true;
            }
        }

        /** Stops waiting because the stream went away (not counted as refused). */
        public void abandon() {
            synchronized (BufferBudget.this) {
                if (!done) {
                    done = true;
                    newWaiters.remove(this);
                }
            }
        }
    }

    /**
     * Makes room for one more share, if it can (the lock held): idle streams lend their shares (the longest idle first;
     * only while that alone can make the room, and while fewer than {@link #maxDormant()} are dormant, unless {@code
     * self} is a dormant stream claiming its share back, which leaves that count as it is), else a stuck stream gives
     * way (its evictor queued on {@code evict}), else, for a new stream ({@code self} null), a stream of a source
     * holding far more than {@code source}. Never touches {@code self}. Each pass removes a candidate, so it ends.
     */
    private boolean makeRoomLocked(long now, Object source, Lease self, List<Runnable> evict) {
        long committedBefore = reserved + borrowed;
        boolean tookOne = false;
        while (roomNeeded(self) > 0) {
            if (tookOne
                    && reserved + borrowed + share - ownWithinShare(self) <= committedBefore
                    && reserved + share <= limit) {
                // A stream that gave way freed at least a share: the new one takes its place, the committed bytes do
                // not grow and the shares stay within the limit, so the bounds of the class comment hold. Freeing every
                // byte past the limit as well
                // (bytes other streams borrowed) took hundreds of streams holding nothing for one newcomer.
                return true;
            }
            Lease idle = lendingSuffices(now, self) ? idle(now, self) : null;
            if (idle != null) {
                idle.dormantLocked();
                lent++;
                continue;
            }
            Lease victim = preemptable(now, self);
            boolean fairness = false;
            if (victim == null && self == null) {
                victim = unfair(source, now);
                fairness = true;
            }
            if (victim == null) {
                return false;
            }
            victim.evictedFor = fairness
                    ? String.format(
                            "fairness: its client %s holds %d streams, the most; a stream of another client took the"
                                    + " place of one of them, those answered by their peer last, then the one"
                                    + " opened last (%s)",
                            victim.source, bySource.get(victim.source), victim.stateLocked())
                    : String.format(
                            "preempted: stuck for %d ms (%s) and the budget spent; a new stream took its place",
                            (now - victim.stuckSince()) / 1_000_000L, victim.stateLocked());
            evict.add(victim.evictor);
            victim.evictor = null;
            victim.closeLocked();
            tookOne = true;
            if (fairness) {
                displaced++;
            } else {
                preempted++;
            }
        }
        return true;
    }

    /** The stream idle the longest (see {@link Lease#idle}), other than {@code self}; null if none. */
    private Lease idle(long now, Lease self) {
        Lease best = null;
        for (Lease lease : open) {
            if (lease != self && lease.idle(now) && (best == null || lease.lastActive < best.lastActive)) {
                best = lease;
            }
        }
        return best;
    }

    private long idleCount(long now, Lease self) {
        long n = 0;
        for (Lease lease : open) {
            if (lease != self && lease.idle(now)) {
                n++;
            }
        }
        return n;
    }

    /**
     * Bytes to free before one more share fits (the lock held), for a new stream ({@code self} null) or a dormant
     * {@code self} claiming its share back: its own bytes, up to a share, then count within the share instead of past
     * it, so they need no room. Either way the shares stay within the limit.
     */
    private long roomNeeded(Lease self) {
        return reserved + borrowed + share - ownWithinShare(self) - limit;
    }

    /** Of a dormant {@code self}'s bytes, those that count within its share once it has one back (0 for a new stream). */
    private long ownWithinShare(Lease self) {
        return self == null ? 0 : Math.min(self.mine, share);
    }

    /**
     * Whether idle streams' shares alone make room for one more (the lock held): lending is no use while bytes past
     * shares fill the budget (a stuck stream must give way then), and new streams ({@code self} null) may make at most
     * {@link #maxDormant()} streams dormant.
     */
    private boolean lendingSuffices(long now, Lease self) {
        long need = roomNeeded(self);
        long mayLend = self != null ? Long.MAX_VALUE : maxDormant() - dormant;
        return need > 0 && mayLend > 0 && need <= share * Math.min(mayLend, idleCount(now, self));
    }

    /**
     * The lease a new stream of {@code source} may take the place of when none is stalled: of the source holding the
     * most leases (if that is another source holding more than a quarter of the leases the budget can hold and at
     * least two more than {@code source}), any lease that costs the budget something (its reserved share plus the
     * bytes it holds: every lease with a share, holding bytes or not), never a dormant one (it reserves nothing, so
     * ending it makes no room). Of those, the streams that received nothing from their peer within the stall time
     * first, the one opened last first; the streams that did (the far side answers them) last, the one that received
     * least lately first. Null if none.
     *
     * <p>Why not only streams holding bytes (as before): under a flood into a target that never reads, the flood's
     * streams have their bytes acknowledged and hold nothing, the budget being spent by their reserved shares, while an
     * interactive connection from the flood's address holds its pieces until their acknowledgement (16-160 KiB under
     * the flood): it was the only candidate and was reset (BufferBudgetE2E, 1 run in 3). It receives its echoes; the
     * flood's streams receive nothing, and are newer than the connections their address had before.
     */
    private Lease unfair(Object source, long now) {
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
        boolean bestAnswered = false;
        for (Lease lease : open) {
            if (lease.evictor == null || lease.dormant || !top.getKey().equals(lease.source)) {
                continue;
            }
            boolean answered = lease.lastArrived != Long.MIN_VALUE && now - lease.lastArrived <= stallNanos;
            // open is in opening order: a later lease of the same rank replaces the earlier one
            if (best == null
                    || (bestAnswered && !answered)
                    || (!bestAnswered && !answered)
                    || (bestAnswered && answered && lease.lastArrived < best.lastArrived)) {
                best = lease;
                bestAnswered = answered;
            }
        }
        return best;
    }

    /**
     * The stalled lease a new stream may take the place of: it holds bytes and moved nothing for {@link
     * #PREEMPT_AFTER}; of those, the one holding the most bytes, then the longest stalled. Null if none.
     */
    private Lease preemptable(long now, Lease self) {
        Lease best = null;
        long bestSince = 0;
        for (Lease lease : open) {
            long since = lease.stuckSince();
            if (lease == self
                    || lease.evictor == null
                    || since == Long.MAX_VALUE
                    || now - since < preemptNanos
                    || now - lease.lastMoved < IDLE_NANOS) {
                continue; // not stuck, or moved bytes lately
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
                "%.1f MiB of %.1f MiB committed by %d streams (%.1f MiB held; %d idle streams lent their share)",
                (reserved + borrowed) / 1048576.0, limit / 1048576.0, leases, held / 1048576.0, dormant);
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
                dormantWaiting.clear();
            } else if (released != null && released.waiter != null && released.mayTakeLocked()) {
                wake.add(released.waiter);
                released.waiter = null;
                waiting.remove(released);
                dormantWaiting.remove(released);
            } else if (!dormantWaiting.isEmpty() && reserved + borrowed + share <= limit) {
                // room for a share: a dormant stream waiting to claim one back goes first
                Lease first = dormantWaiting.iterator().next();
                wake.add(first.waiter);
                first.waiter = null;
                waiting.remove(first);
                dormantWaiting.remove(first);
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
        /** An arrival was refused (counted once in {@link BufferBudget#overruns()}). */
        private boolean overrun;
        /** Which rule ended this stream and why, for the reset's reason ({@link #evictedFor}). */
        private String evictedFor = "";

        private boolean blocked;
        private long blockedAt;
        /** Bytes arrived from the peer and not yet written to the socket ({@link #chargeArrived}, {@link #written}). */
        private long queued;

        private boolean starved;
        private long starvedAt;

        /** Bytes this stream's receive window grew beyond its initial size ({@link #growWindow}). */
        private long grownWindow;

        /**
         * Bytes reserved past the share for the socket read under way ({@link #reserveRead}), counted in the committed
         * bytes until that read is charged or ends.
         */
        private long readReserve;

        private final Object source;

        /** No share: lent to another stream while idle; claimed back when the stream next moves. */
        private boolean dormant;
        /** When bytes last moved for this stream either way (read, arrived, written, acknowledged). */
        private long lastActive;
        /**
         * When this stream last moved bytes itself (read from its socket, arrived from the peer, written to its socket):
         * acknowledgements do not count, as a flood stream whose far side does not read still gets them for a while.
         * A stream that moved lately is never chosen to give way.
         */
        private long lastMoved;
        /**
         * When bytes last arrived for this stream from its peer ({@link #chargeArrived}); {@link Long#MIN_VALUE} if never.
         * For a stream of a client (a source), that is the far side answering: an interactive connection gets its
         * echoes, a flood stream into a target that never reads gets nothing. Fairness takes such a stream last.
         */
        private long lastArrived = Long.MIN_VALUE;

        private Lease(long now, Object source) {
            this.lastProgress = now;
            this.lastActive = now;
            this.lastMoved = now;
            this.source = source;
        }

        /**
         * Holds nothing, waits for nothing, has a share, and moved nothing for {@link #IDLE_AFTER}: it may lend its
         * share (the lock held).
         */
        private boolean idle(long now) {
            return quiet() && now - lastActive >= IDLE_NANOS;
        }

        /** Holds nothing, waits for nothing, has a share: idle once it moved nothing for a while (the lock held). */
        private boolean quiet() {
            return !closed
                    && !dormant
                    && evictor != null
                    && mine == 0
                    && queued == 0
                    && !blocked
                    && !starved
                    && waiter == null
                    && readReserve == 0;
        }

        /** Lends the share (the lock held; {@link #idle} holds, so it borrowed nothing). */
        private void dormantLocked() {
            dormant = true;
            reserved -= share;
            BufferBudget.this.dormant++;
        }

        /**
         * A dormant lease claims a share back (the lock held) as a new stream would, but never by taking another
         * client's place for fairness: from free room, an idle stream or a stuck one. True if it has a share now.
         */
        private boolean claimLocked(long now, List<Runnable> evict) {
            if (!dormant) {
                return true;
            }
            if (!makeRoomLocked(now, source, this, evict)) {
                return false;
            }
            // Its bytes counted as borrowed while it had no share; with the share back, part of them are within it.
            long asDormant = mine;
            dormant = false;
            BufferBudget.this.dormant--;
            dormantWaiting.remove(this);
            reserved += share;
            borrowed -= asDormant - over(mine);
            return true;
        }

        /** Whether a dormant lease would get a share back now (no side effects; the lock held). */
        private boolean mayClaimLocked(long now) {
            return roomNeeded(this) <= 0 || lendingSuffices(now, this) || preemptable(now, this) != null;
        }

        /** True while this lease has no share (it lent it while idle). */
        public boolean isDormant() {
            synchronized (BufferBudget.this) {
                return dormant;
            }
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

        /**
         * Which rule of the budget chose this stream to end, and why (set before its {@link #onEvict} callback runs:
         * stalled, preempted or fairness, with what it held); empty if none did.
         */
        public String evictedFor() {
            synchronized (BufferBudget.this) {
                return evictedFor;
            }
        }

        /** What the choice of this stream rested on, for {@link #evictedFor} (the lock held). */
        private String stateLocked() {
            long now = clock.getAsLong();
            return String.format(
                    "held %d bytes, %d of them queued to its socket, %s, last moved %d ms ago, %s",
                    mine,
                    queued,
                    starved ? "no credit from its peer" : blocked ? "not reading" : "reading",
                    (now - lastMoved) / 1_000_000L,
                    lastArrived == Long.MIN_VALUE
                            ? "nothing received from its peer"
                            : "last received from its peer " + (now - lastArrived) / 1_000_000L + " ms ago");
        }

        /** What ends this stream when {@link #evictStalled} finds it stalled (any thread; run at most once). */
        public void onEvict(Runnable evict) {
            synchronized (BufferBudget.this) {
                evictor = closed ? null : evict;
            }
        }

        private long over(long bytes) {
            return Math.max(0, bytes - (dormant ? 0 : share));
        }

        private void add(long n) {
            long before = over(mine);
            mine += n;
            held += n;
            borrowed += over(mine) - before;
        }

        private boolean mayTakeLocked() {
            if (closed) {
                return false;
            }
            if (dormant) {
                return mayClaimLocked(clock.getAsLong());
            }
            return mine < share || reserved + borrowed < limit;
        }

        /**
         * Charges {@code n} bytes this node now holds for the stream (read from its socket).
         *
         * @return true while the stream may read more; false: stop reading and wait for {@link #whenMayTake}
         */
        public boolean charge(long n) {
            List<Runnable> evict = new ArrayList<>();
            boolean more;
            synchronized (BufferBudget.this) {
                if (closed) {
                    return false;
                }
                long now = clock.getAsLong();
                dropReadReserveLocked();
                claimLocked(now, evict);
                add(n);
                lastActive = now;
                lastMoved = now;
                more = mayTakeLocked();
            }
            evict.forEach(Runnable::run);
            return more;
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
                    lastMoved = clock.getAsLong();
                }
            }
            release(n);
        }

        /**
         * Charges {@code n} bytes that arrived from the peer, unless they take this stream past its share and the
         * committed bytes past twice the limit: then nothing is charged and the caller must drop the bytes and reset
         * the stream. A dormant stream claims a share back first (free room, an idle stream's, a stuck one's).
         *
         * @return false when the bytes must not be kept
         */
        public boolean chargeArrived(long n) {
            List<Runnable> evict = new ArrayList<>();
            boolean kept;
            synchronized (BufferBudget.this) {
                if (closed) {
                    return false;
                }
                long now = clock.getAsLong();
                claimLocked(now, evict);
                // past its share, bytes are kept only while the committed bytes stay within twice the limit (see the
                // class comment for why committed, not held)
                kept = mine + n <= (dormant ? 0 : share)
                        || reserved + borrowed + over(mine + n) - over(mine) <= 2 * limit;
                if (kept) {
                    add(n);
                    queued += n;
                    lastActive = now;
                    lastMoved = now;
                    lastArrived = now;
                } else if (!overrun) {
                    overrun = true;
                    overruns++;
                }
            }
            evict.forEach(Runnable::run);
            return kept;
        }

        /** Releases {@code n} bytes the node no longer holds (acknowledged by the peer, or written to the socket). */
        public void release(long n) {
            synchronized (BufferBudget.this) {
                if (closed || n <= 0) {
                    return;
                }
                long m = Math.min(n, mine);
                lastProgress = clock.getAsLong();
                lastActive = lastProgress;
                long before = over(mine);
                mine -= m;
                held -= m;
                borrowed -= before - over(mine);
            }
            wakeIfRoom(this);
        }

        /**
         * Asks to make the next socket read {@code extra} bytes larger than a share: granted while the committed bytes,
         * with {@code extra} reserved, stay within half the limit (the budget is far from spent, so a bulk stream reads
         * and frames up to 64 KiB at once instead of a share at a time). The reservation replaces any earlier one and
         * lasts until the read is {@link #charge}d or {@link #endRead} (the read loop is over). Any thread.
         *
         * @return true if the read may be {@code share + extra} bytes; false: read at most what the share leaves
         */
        public boolean reserveRead(long extra) {
            synchronized (BufferBudget.this) {
                dropReadReserveLocked();
                if (closed || dormant || extra <= 0 || reserved + borrowed + extra > limit / 2) {
                    return false;
                }
                readReserve = extra;
                borrowed += extra;
                return true;
            }
        }

        /** Drops the reservation of a read that read less, or nothing ({@link #reserveRead}). */
        public void endRead() {
            boolean dropped;
            synchronized (BufferBudget.this) {
                dropped = readReserve > 0;
                dropReadReserveLocked();
            }
            if (dropped) {
                wakeIfRoom(null);
            }
        }

        private void dropReadReserveLocked() {
            borrowed -= readReserve;
            readReserve = 0;
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
                    if (dormant) {
                        dormantWaiting.add(this);
                    }
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
            dropReadReserveLocked();
            closed = true;
            windowGrowth -= grownWindow;
            grownWindow = 0;
            held -= mine;
            borrowed -= over(mine);
            mine = 0;
            if (dormant) {
                dormant = false;
                BufferBudget.this.dormant--;
            } else {
                reserved -= share;
            }
            leases--;
            waiter = null;
            evictor = null;
            waiting.remove(this);
            dormantWaiting.remove(this);
            open.remove(this);
            if (source != null) {
                bySource.computeIfPresent(source, (k, n) -> n > 1 ? n - 1 : null);
            }
        }
    }
}
