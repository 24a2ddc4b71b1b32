package dev.splitstream.bridge;

import dev.splitstream.protocol.BufferBudget;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * Sizes a bridged socket's reads by its stream's lease: Netty's adaptive guess, capped at what the lease may take
 * ({@link BufferBudget.Lease#readSize}). While the budget has room a bulk stream reads up to {@value #MAX_READ} bytes at
 * once, which become one DATA frame of the default maximum payload: at the 16 KiB share, reads of at most the share
 * cost four times the system calls, frames and seals per byte (bench/ab.sh against share-sized reads, both orders, load
 * 22-30: read/write system calls per GB 181k -> 93k and 176k -> 92k with one connection, 157k -> 82k and 147k -> 81k
 * with eight; CPU per GB 0.67-0.74x and 0.87-0.90x). When the budget's headroom is gone reads fall back to the share.
 */
final class LeaseReads implements RecvByteBufAllocator {
    /** The largest read: the default maximum DATA payload, and Netty's own default largest read. */
    static final int MAX_READ = 64 * 1024;

    private final AdaptiveRecvByteBufAllocator adaptive = new AdaptiveRecvByteBufAllocator(64, 1024, MAX_READ);
    private final BufferBudget.Lease lease;

    LeaseReads(BufferBudget.Lease lease) {
        this.lease = lease;
    }

    @Override
    public Handle newHandle() {
        return new Capped((ExtendedHandle) adaptive.newHandle());
    }

    /** The adaptive handle with its guess capped; everything else (read counting, when to stop) is the adaptive's. */
    private final class Capped implements ExtendedHandle {
        private final ExtendedHandle delegate;

        Capped(ExtendedHandle delegate) {
            this.delegate = delegate;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return alloc.ioBuffer(guess());
        }

        @Override
        public int guess() {
            return Math.min(delegate.guess(), lease.readSize(MAX_READ));
        }

        @Override
        public void reset(io.netty.channel.ChannelConfig config) {
            delegate.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            delegate.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            delegate.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return delegate.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            delegate.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return delegate.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return delegate.continueReading();
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return delegate.continueReading(maybeMoreDataSupplier);
        }

        @Override
        public void readComplete() {
            delegate.readComplete();
        }
    }
}
