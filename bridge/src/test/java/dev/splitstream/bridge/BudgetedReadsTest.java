package dev.splitstream.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.splitstream.protocol.BufferBudget;
import io.netty.channel.DefaultChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class BudgetedReadsTest {
    private static final int SHARE = 16 * 1024;

    private final AtomicLong clock = new AtomicLong(1_000_000_000L);
    private final BufferBudget budget = new BufferBudget(64L << 20, SHARE);

    /** A read handle as Netty's read loop drives it, with a lease that grants reads past the share. */
    private RecvByteBufAllocator.Handle handle() {
        BudgetedReads reads = new BudgetedReads(SHARE, clock::get);
        reads.lease(budget.tryOpen());
        RecvByteBufAllocator.Handle h = reads.newHandle();
        h.reset(new DefaultChannelConfig(new EmbeddedChannel()));
        return h;
    }

    /** One read of {@code available} bytes at most, as the loop does it; returns the size it asked for. */
    private static int read(RecvByteBufAllocator.Handle h, int available) {
        int size = h.guess();
        h.attemptedBytesRead(size);
        h.lastBytesRead(Math.min(size, available));
        h.readComplete();
        return size;
    }

    private static int grow(RecvByteBufAllocator.Handle bulk) {
        int size = 0;
        for (int i = 0; i < 10; i++) {
            size = read(bulk, Integer.MAX_VALUE);
        }
        return size;
    }

    @Test
    void bulkReadsHalveWhileAnInteractiveReadIsRecentOnTheSameLoop() throws Exception {
        // each test thread stands for one event loop: the mark is per thread, so start from a thread of our own
        Thread loop = new Thread(() -> {
            RecvByteBufAllocator.Handle bulk = handle();
            assertEquals(BudgetedReads.MAX_READ, grow(bulk), "a bulk socket grows its reads to 64 KiB");

            RecvByteBufAllocator.Handle shell = handle();
            read(shell, 1); // one keystroke: the socket had one byte
            assertEquals(BudgetedReads.INTERACTIVE_MAX_READ, read(bulk, Integer.MAX_VALUE));
            assertEquals(BudgetedReads.INTERACTIVE_MAX_READ, read(bulk, Integer.MAX_VALUE), "and stays there");

            clock.addAndGet(BudgetedReads.INTERACTIVE_MILLIS * 1_000_000 - 1);
            assertEquals(BudgetedReads.INTERACTIVE_MAX_READ, read(bulk, Integer.MAX_VALUE), "within the window");
            clock.addAndGet(1);
            assertEquals(BudgetedReads.MAX_READ, read(bulk, Integer.MAX_VALUE), "the window is over: 64 KiB again");
        });
        runOn(loop);
    }

    @Test
    void fullReadsAndABulkSocketsShortReadsDoNotMarkTheLoop() throws Exception {
        Thread loop = new Thread(() -> {
            RecvByteBufAllocator.Handle bulk = handle();
            grow(bulk);
            RecvByteBufAllocator.Handle other = handle(); // a new bulk socket: its first reads are small but full
            read(other, Integer.MAX_VALUE);
            read(other, Integer.MAX_VALUE);
            assertEquals(BudgetedReads.MAX_READ, read(bulk, Integer.MAX_VALUE));
            RecvByteBufAllocator.Handle slow = handle();
            grow(slow);
            read(slow, 100); // a bulk socket's read that came up short, even a small one
            read(slow, BudgetedReads.SMALL_READ);
            assertEquals(BudgetedReads.MAX_READ, read(bulk, Integer.MAX_VALUE));
            RecvByteBufAllocator.Handle query = handle();
            read(query, 200); // a socket that starts with a short read: a query, a command
            assertEquals(BudgetedReads.INTERACTIVE_MAX_READ, read(bulk, Integer.MAX_VALUE));
        });
        runOn(loop);
    }

    @Test
    void anInteractiveReadOnAnotherLoopLeavesThisOnesReadsAlone() throws Exception {
        Thread other = new Thread(() -> read(handle(), 1));
        runOn(other);
        Thread loop = new Thread(() -> {
            RecvByteBufAllocator.Handle bulk = handle();
            assertEquals(BudgetedReads.MAX_READ, grow(bulk));
            assertEquals(BudgetedReads.MAX_READ, read(bulk, Integer.MAX_VALUE));
        });
        runOn(loop);
    }

    private static void runOn(Thread t) throws Exception {
        Throwable[] failure = new Throwable[1];
        t.setUncaughtExceptionHandler((th, e) -> failure[0] = e);
        t.start();
        t.join(10_000);
        if (t.isAlive()) {
            throw new AssertionError("the reads did not finish within 10 s");
        }
        if (failure[0] instanceof AssertionError a) {
            throw a;
        }
        if (failure[0] != null) {
            throw new AssertionError(failure[0]);
        }
    }
}
