package dev.splitstream.bridge;

import dev.splitstream.protocol.BufferBudget;
import io.netty.util.internal.PlatformDependent;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.Optional;
import org.jboss.logging.Logger;

/** The node's {@link BufferBudget} from its configuration keys, checked the same way on both nodes. */
public final class Budgets {
    private static final Logger LOG = Logger.getLogger(Budgets.class);
    /** How often stalled streams are looked for. */
    static final long SWEEP_MILLIS = 5_000;
    /** How often new streams waiting for a share are looked at (BufferBudget.admitWaiting). */
    static final long ADMIT_MILLIS = 100;

    /** Configuration key of the budget, bytes. */
    public static final String BUDGET = "splitstream.buffer.budget";
    /** Configuration key of each stream's guaranteed share, bytes. */
    public static final String STREAM_SHARE = "splitstream.buffer.stream-share";
    /** Configuration key of the stall time after which a stream that moves nothing is evicted under pressure. */
    public static final String STALL_TIMEOUT = "splitstream.buffer.stall-timeout";

    private Budgets() {}

    /**
     * @param limit {@value #BUDGET}; unset: a quarter of the maximum heap or of the maximum direct memory, whichever is
     *     smaller ({@link BufferBudget#defaultLimit})
     * @param share {@value #STREAM_SHARE}
     * @param stall {@value #STALL_TIMEOUT}
     * @throws IllegalArgumentException naming the key, for a value out of range
     */
    public static BufferBudget create(Optional<Long> limit, long share, Duration stall) {
        return create(limit, share, stall, Runtime.getRuntime().maxMemory(), PlatformDependent.maxDirectMemory());
    }

    /**
     * As {@link #create(Optional, long, Duration)} for a JVM with these limits. Held bytes live on the heap until a
     * socket takes them, then in direct memory: Netty copies every heap buffer written to a socket into a pooled direct
     * buffer, which stays until the kernel took it. So held bytes (at most 3.5 times the budget: BufferBudget) may all be
     * direct memory at once (a flood into targets that never read), and a budget past 2/7 of the direct memory would
     * not protect the node:
     * at -XX:MaxDirectMemorySize every write blocks its event loop in the JDK's reservation (System.gc and sleeps,
     * seconds in a soak), then fails.
     */
    static BufferBudget create(Optional<Long> limit, long share, Duration stall, long maxHeap, long maxDirect) {
        if (stall.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException(STALL_TIMEOUT + ": must be at least 1s, was " + stall);
        }
        if (share < 1024 || share > 1024 * 1024) {
            throw new IllegalArgumentException(STREAM_SHARE + ": must be 1K to 1M, was " + share);
        }
        long bytes = limit.orElse(BufferBudget.defaultLimit(Math.min(maxHeap, maxDirect > 0 ? maxDirect : maxHeap)));
        if (bytes < 4 * share) {
            throw new IllegalArgumentException(
                    BUDGET + ": must be at least 4 stream shares (" + 4 * share + " bytes), was " + bytes);
        }
        if (maxHeap != Long.MAX_VALUE && bytes > maxHeap / 7 * 2) {
            // Held bytes may reach 3.5 times the budget: past 2/7 of the heap the bound would not protect the node.
            throw new IllegalArgumentException(BUDGET + ": must be at most 2/7 of the maximum heap (" + maxHeap / 7 * 2
                    + " bytes with this -Xmx), was " + bytes);
        }
        if (maxDirect > 0 && maxDirect != Long.MAX_VALUE && bytes > maxDirect / 7 * 2) {
            throw new IllegalArgumentException(BUDGET + ": must be at most 2/7 of the maximum direct memory ("
                    + maxDirect / 7 * 2 + " bytes with this -XX:MaxDirectMemorySize), was " + bytes);
        }
        return new BufferBudget(bytes, (int) share, stall, System::nanoTime);
    }

    /**
     * Looks for stalled streams every few seconds (on an event loop of {@code vertx}) and logs what it evicted, the
     * stalled streams new streams took the place of meanwhile, and the streams reset for fairness (one line each per
     * sweep at most).
     */
    public static void sweep(Vertx vertx, BufferBudget budget) {
        long[] preemptedBefore = {0};
        long[] displacedBefore = {0};
        // new streams waiting for a share get one as soon as an idle stream can lend it (BufferBudget.openOrWait)
        vertx.setPeriodic(ADMIT_MILLIS, id -> budget.admitWaiting());
        vertx.setPeriodic(SWEEP_MILLIS, id -> {
            // the counts of rate-limited lines, once their interval is over
            SocketBridge.OVERRUNS.flush();
            SocketBridge.REFUSALS.flush();
            int n = budget.evictStalled();
            long preempted = budget.preempted();
            long p = preempted - preemptedBefore[0];
            preemptedBefore[0] = preempted;
            long displaced = budget.displaced();
            long d = displaced - displacedBefore[0];
            displacedBefore[0] = displaced;
            if (n > 0) {
                LOG.warnf(
                        "buffer budget short: reset %d stalled streams (no bytes moved for %s; %d so far; %s)",
                        n, STALL_TIMEOUT, budget.evicted(), budget.describe());
            }
            if (p > 0) {
                LOG.warnf(
                        "buffer budget spent: reset %d stalled streams to make room for new ones in the last %ds (no"
                                + " bytes moved for %ds; %d so far; %s)",
                        p, SWEEP_MILLIS / 1000, BufferBudget.PREEMPT_AFTER.toSeconds(), preempted, budget.describe());
            }
            if (d > 0) {
                // Not "spent": a client address holding far the most streams gives way to another's new streams.
                LOG.warnf(
                        "buffer budget fairness: reset %d streams of the client holding the most to make room for"
                                + " another client's in the last %ds (%d so far; %s)",
                        d, SWEEP_MILLIS / 1000, displaced, budget.describe());
            }
        });
    }
}
