package dev.splitstream.bridge;

import io.netty.channel.ChannelHandlerContext;

/**
 * Flushes one Netty channel once per event-loop turn rather than once per write: the writes of one turn (the frames cut
 * from one read, a request with the credit it returns) leave in one {@code writev}, and a lone write (a ping's answer)
 * still leaves in the turn it was made. Once {@value #FLUSH_BYTES} bytes wait they are flushed at once, so bulk data
 * streams out write by write instead of in bursts of a whole read loop.
 *
 * <p>Event-loop thread of the channel only: call {@link #wrote} after each unflushed {@code ctx.write}.
 */
final class TurnFlusher {
    /**
     * Unflushed bytes beyond which a write flushes at once: the peer works on one write while this side makes the next.
     */
    static final int FLUSH_BYTES = 64 * 1024;

    private final ChannelHandlerContext ctx;
    private final Runnable flushTask = this::flushNow;
    private boolean flushQueued;
    private int unflushed;

    TurnFlusher(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** {@code bytes} were written unflushed: flush now past {@link #FLUSH_BYTES}, else once the turn's work is done. */
    void wrote(int bytes) {
        unflushed += bytes;
        if (unflushed >= FLUSH_BYTES) {
            unflushed = 0;
            ctx.flush();
        } else if (!flushQueued) {
            flushQueued = true;
            ctx.executor().execute(flushTask);
        }
    }

    private void flushNow() {
        flushQueued = false;
        if (unflushed > 0) {
            unflushed = 0;
            ctx.flush();
        }
    }
}
