package dev.splitstream.bridge;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * The read buffers of one socket: Netty's adaptive sizes (64 bytes to 64 KiB), each read sized by what the stream's
 * buffer budget lease grants at that moment ({@code BufferBudget.Lease#grantRead}, charged at once) and settled with
 * what the read took ({@code settleRead}): a read never takes a lease past its allowance (the budget's read contract). A
 * grant of 0 reads nothing; the bridge stops reading the socket before it returns 0. Installed on a socket before its
 * first read ({@link SocketBridge#configure}): Netty keeps the handle of a channel's first read for good, so an
 * allocator set later (as the bridge's constructor did) never took effect on SOCKS5 and HTTP CONNECT sockets, which
 * read their request before a bridge exists, and those read up to 64 KiB at once outside the budget's sizing.
 */
final class BudgetReads implements RecvByteBufAllocator {
    /** Largest read before a bridge exists (a SOCKS5 or CONNECT request, and bytes sent right after it). */
    static final int MAX = 64 * 1024;

    /** Who sizes the reads: the bridge, once it exists. */
    interface Grants {
        /** The size of the next read, at most {@code wanted}; 0: read nothing (reading was stopped). */
        int grant(int wanted);

        /** The read granted {@code granted} bytes took {@code read} (0 or less: none). */
        void settle(int granted, int read);

        /** The largest read this socket makes, whatever the budget has room for. */
        int maxRead();
    }

    private static final Grants UNSIZED = new Grants() {
        @Override
        public int grant(int wanted) {
            return wanted;
        }

        @Override
        public void settle(int granted, int read) {}

        @Override
        public int maxRead() {
            return MAX;
        }
    };

    private final AdaptiveRecvByteBufAllocator sizes = new AdaptiveRecvByteBufAllocator(64, 1024, MAX);
    private volatile Grants grants = UNSIZED;

    /** Who sizes each read from now on (asked on the socket's thread at every read). */
    void grants(Grants grants) {
        this.grants = grants;
    }

    /** The allocator installed on this channel, or null if another one is (the socket was not configured first). */
    static BudgetReads of(ChannelConfig config) {
        return config.getRecvByteBufAllocator() instanceof BudgetReads reads ? reads : null;
    }

    @Override
    public Handle newHandle() {
        return new Sized((ExtendedHandle) sizes.newHandle());
    }

    private final class Sized implements ExtendedHandle {
        private final ExtendedHandle sized;
        private Grants granter;
        private int granted;

        Sized(ExtendedHandle sized) {
            this.sized = sized;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            settlePending(0);
            granter = grants;
            granted = Math.max(0, granter.grant(guess()));
            return alloc.ioBuffer(granted);
        }

        private void settlePending(int read) {
            if (granter != null) {
                Grants g = granter;
                granter = null;
                g.settle(granted, read);
                granted = 0;
            }
        }

        @Override
        public int guess() {
            return Math.min(sized.guess(), grants.maxRead());
        }

        @Override
        public void reset(ChannelConfig config) {
            sized.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            sized.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            sized.lastBytesRead(bytes);
            settlePending(bytes);
        }

        @Override
        public int lastBytesRead() {
            return sized.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            sized.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return sized.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return sized.continueReading();
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return sized.continueReading(maybeMoreDataSupplier);
        }

        @Override
        public void readComplete() {
            sized.readComplete();
            settlePending(0);
        }
    }
}
