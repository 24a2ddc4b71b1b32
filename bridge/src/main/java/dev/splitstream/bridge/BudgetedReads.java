package dev.splitstream.bridge;

import dev.splitstream.protocol.BufferBudget;
import io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator;

/**
 * Sizes a socket's reads by its stream's buffer budget: as Netty's adaptive sizing does (a read that fills its buffer
 * makes the next one twice as large, reads well below the size shrink it), up to {@value #MAX_READ} bytes, but past
 * one share of the budget only while the budget grants the extra bytes ({@link BufferBudget.Lease#reserveRead}: far
 * from spent, counted until the read is charged). One read makes one DATA frame, and every per-frame cost (the heap
 * copy, seal, WebSocket message, write system call, open) was paid four times per 64 KiB with share-sized reads; under
 * pressure, and before the bridge has a lease (a SOCKS or CONNECT request), reads stay within one share, the bound the
 * budget's proof needs.
 *
 * <p>Netty keeps the read handle it made at a channel's first read, so the allocator a socket got when it was
 * configured is the one its bridge gives the lease to ({@link SocketBridge}).
 */
final class BudgetedReads extends DefaultMaxMessagesRecvByteBufAllocator {
    /** The largest read: one DATA frame's most payload. */
    static final int MAX_READ = 64 * 1024;

    private static final int MIN_READ = 512;
    private static final int FIRST_READ = 2048;

    private final int share;
    private volatile BufferBudget.Lease lease;

    BudgetedReads(int share) {
        this.share = share;
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
            int want = next;
            if (want <= share) {
                return want;
            }
            BufferBudget.Lease l = lease;
            return l != null && l.reserveRead(want - share) ? want : share;
        }

        @Override
        public void lastBytesRead(int bytes) {
            if (bytes > 0) {
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
