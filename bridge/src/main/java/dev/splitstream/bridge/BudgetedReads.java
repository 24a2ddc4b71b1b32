package dev.splitstream.bridge;

import dev.splitstream.protocol.BufferBudget;
import io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator;
import io.netty.util.concurrent.FastThreadLocal;
import java.util.function.LongSupplier;

/**
 * Sizes a socket's reads by its stream's buffer budget: as Netty's adaptive sizing does (a read that fills its buffer
 * makes the next one twice as large, reads well below the size shrink it), up to {@value #MAX_READ} bytes, but past
 * one share of the budget only while the budget grants the extra bytes ({@link BufferBudget.Lease#reserveRead}: far
 * from spent, counted until the read is charged). One read makes one DATA frame, and every per-frame cost (the heap
 * copy, seal, WebSocket message, write system call, open) was paid four times per 64 KiB with share-sized reads; under
 * pressure, and before the bridge has a lease (a SOCKS or CONNECT request), reads stay within one share, the bound the
 * budget's proof needs.
 *
 * <p>While an interactive stream moves on the same event loop, bulk reads stop at {@value #INTERACTIVE_MAX_READ}
 * bytes. A session's sockets share one loop, which reads each ready socket once per turn and seals and sends what it
 * read before it looks again: with 8 uploads a turn took ~680 µs, and a ping's byte (and the WebSocket bringing its
 * answer) waited for about three of them, ~3 ms (bench/ping-trace.sh). Half-size reads halve the turn and the wait;
 * without an interactive stream bulk reads stay at {@value #MAX_READ}, which costs fewer system calls per byte. A read
 * is interactive when its socket reads little (its read size is at most {@value #SMALL_READ} bytes, where sizing brought
 * it or where a socket starts) and it did not fill that: the socket had no more. A bulk socket whose read comes up short
 * now and then reads 64 KiB at a time and does not count (it did, in a first version, and its system calls per GB
 * rose 6-24% in uploads and downloads alone). The mark lasts {@value #INTERACTIVE_MILLIS} ms and belongs to the loop's
 * thread, as the turns do: a query, a ping or a keystroke marks the loop when it is read, so its answer and what
 * follows it within that time pass shorter turns; a bulk connection that starts with a short read (a request, a
 * header) halves its neighbours' reads for that long only (1 s cost the 3-second uploads of bench/ab.sh 2-5%).
 *
 * <p>Netty keeps the read handle it made at a channel's first read, so the allocator a socket got when it was
 * configured is the one its bridge gives the lease to ({@link SocketBridge}).
 */
final class BudgetedReads extends DefaultMaxMessagesRecvByteBufAllocator {
    /** The largest read: one DATA frame's most payload. */
    static final int MAX_READ = 64 * 1024;

    /** The largest read while an interactive stream moves on the same event loop. */
    static final int INTERACTIVE_MAX_READ = 32 * 1024;

    /** A read of a socket reading at most this many bytes at a time that did not fill them marks its loop interactive. */
    static final int SMALL_READ = 4096;

    /** How long an interactive read keeps its event loop's bulk reads at {@link #INTERACTIVE_MAX_READ}. */
    static final long INTERACTIVE_MILLIS = 250;

    private static final long INTERACTIVE_NANOS = INTERACTIVE_MILLIS * 1_000_000;

    /** Per event-loop thread: when an interactive read last happened on it (nanoTime), or 0 for never. */
    private static final FastThreadLocal<long[]> LAST_INTERACTIVE = new FastThreadLocal<>() {
        @Override
        protected long[] initialValue() {
            return new long[1];
        }
    };

    private static final int MIN_READ = 512;
    private static final int FIRST_READ = 2048;

    private final int share;
    private final LongSupplier nanoClock;
    private volatile BufferBudget.Lease lease;

    BudgetedReads(int share) {
        this(share, System::nanoTime);
    }

    BudgetedReads(int share, LongSupplier nanoClock) {
        this.share = share;
        this.nanoClock = nanoClock;
    }

    /** True while an interactive read on this thread's loop is recent: bulk reads stop at half size. */
    private boolean interactiveNearby() {
        long last = LAST_INTERACTIVE.get()[0];
        return last != 0 && nanoClock.getAsLong() - last < INTERACTIVE_NANOS;
    }

    /** From now on reads past a share are asked of {@code lease} (null: none past a share). Any thread. */
    void lease(BufferBudget.Lease lease) {
        this.lease = lease;
    }

    @Override
    public Handle newHandle() {
        return new Handle();
    }

    private final class Handle extends MaxMessageHandle {
        private int next = FIRST_READ;
        private boolean shrinkNext;

        @Override
        public int guess() {
            int want = next > INTERACTIVE_MAX_READ && interactiveNearby() ? INTERACTIVE_MAX_READ : next;
            if (want <= share) {
                return want;
            }
            BufferBudget.Lease l = lease;
            return l != null && l.reserveRead(want - share) ? want : share;
        }

        @Override
        public void lastBytesRead(int bytes) {
            if (bytes > 0) {
                if (bytes < attemptedBytesRead() && attemptedBytesRead() <= SMALL_READ) {
                    long now = nanoClock.getAsLong();
                    LAST_INTERACTIVE.get()[0] = now == 0 ? 1 : now;
                }
                if (bytes >= attemptedBytesRead()) {
                    next = Math.min(MAX_READ, Math.max(next, bytes) << 1);
                    shrinkNext = false;
                } else if (bytes <= next >> 2) {
                    // twice in a row well below the size: an interactive stream, smaller buffers
                    if (shrinkNext) {
                        next = Math.max(MIN_READ, next >> 1);
                        shrinkNext = false;
                    } else {
                        shrinkNext = true;
                    }
                } else {
                    shrinkNext = false;
                }
            }
            super.lastBytesRead(bytes);
        }

        @Override
        public void readComplete() {
            BufferBudget.Lease l = lease;
            if (l != null) {
                l.endRead(); // a reservation the loop's last (empty) read did not use
            }
        }
    }
}
