package dev.splitstream.bridge;

import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameDecoder;
import io.netty.util.concurrent.EventExecutor;
import io.vertx.core.http.WebSocketBase;
import io.vertx.core.http.impl.WebSocketInternal;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Sends binary WebSocket messages of one connection and flushes once per event-loop turn rather than once per message.
 *
 * <p>Vert.x's {@code writeBinaryMessage} flushes every message unless it is written while the same connection is
 * reading; a tunnel writes while another socket (the client's, the target's) is reading, so every frame cost a flush
 * (a {@code write} system call of its own, and a TCP segment for each ACK and WINDOW_UPDATE). Here each message goes
 * to the connection's Netty pipeline (its WebSocket encoder, TLS if any) unflushed, and one flush is queued behind
 * the work of the current event-loop turn: small frames produced in one turn (ACKs, WINDOW_UPDATEs, a request and its
 * credit) leave together, gathered into one {@code writev}, and a lone frame (a ping's answer) leaves in the same turn it
 * was written. Once {@value TurnFlusher#FLUSH_BYTES} bytes are waiting they are flushed at once, so bulk data streams out.
 *
 * <p>Thread-safe: a write from another thread hops to the connection's event loop, and while such hops are pending,
 * writes on the loop queue behind them, so messages leave in the order of the calls (sealed frames must). The write
 * queue's state is the channel's writability, the same signal Vert.x's {@code writeQueueFull} and drain handler use.
 */
public final class WebSocketWriter {
    private final ChannelHandlerContext ctx;
    private final EventExecutor loop;
    /** Event-loop thread only. */
    private final TurnFlusher flusher;
    /** Writes from other threads queued on the loop and not yet written. */
    private final AtomicInteger hops = new AtomicInteger();

    private WebSocketWriter(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.loop = ctx.executor();
        this.flusher = new TurnFlusher(ctx);
        if (loop.inEventLoop()) {
            gatherWithoutCopies(ctx);
        } else {
            loop.execute(() -> gatherWithoutCopies(ctx));
        }
    }

    /**
     * Lets the connection's WebSocket frame decoder gather a message that spans socket reads by keeping the reads
     * (Netty's composite cumulator) instead of copying them into one growing buffer, and drop the reads it has decoded
     * after every read instead of every 16th. A message of a 64 KiB DATA frame spans two reads or more, so the merging
     * cumulator copied every byte again, and between its compactions grew its buffer by doubling to 1-2 MiB: each step
     * a new buffer, beyond Netty's chunk size a fresh zeroed direct one. The decoder copies each message's payload out
     * of the reads either way.
     */
    static void gatherWithoutCopies(ChannelHandlerContext ctx) {
        if (ctx.pipeline().get(WebSocketFrameDecoder.class) instanceof ByteToMessageDecoder decoder) {
            decoder.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
            decoder.setDiscardAfterReads(1);
        }
    }

    /**
     * A writer for {@code ws}, or null when it does not expose its Netty channel (then use its own write methods).
     * Use the writer for every binary message of the connection from then on; Vert.x may still write its own control
     * frames (pongs, the close frame).
     */
    public static WebSocketWriter of(WebSocketBase ws) {
        if (ws instanceof WebSocketInternal internal && internal.channelHandlerContext() != null) {
            return new WebSocketWriter(internal.channelHandlerContext());
        }
        return null;
    }

    /** Sends {@code message} (its remaining bytes, which must not change afterwards) as one binary message. */
    public void write(ByteBuffer message) {
        write(Unpooled.wrappedBuffer(message));
    }

    /**
     * Encodes {@code frame} with {@code codec} (sealing and compressing as the codec does) straight into a pooled
     * direct buffer and sends it as one binary message. A heap buffer would be copied into a direct one by Netty on its
     * way to the socket, and allocated and zeroed before that: per 64 KiB DATA frame, the largest costs after the
     * cipher itself. Call in the order the frames must leave (sealed frames carry a counter).
     */
    public void write(Frame frame, FrameCodec codec) {
        Encoded encoded = new Encoded(ctx.alloc());
        ByteBuffer nio;
        try {
            nio = codec.encode(frame, encoded);
        } catch (RuntimeException | Error e) {
            encoded.release();
            throw e;
        }
        write(encoded.buf.writerIndex(nio.remaining()));
    }

    /** The one direct buffer of an encoding. */
    private static final class Encoded implements FrameCodec.Allocator {
        private final ByteBufAllocator alloc;
        ByteBuf buf;

        Encoded(ByteBufAllocator alloc) {
            this.alloc = alloc;
        }

        @Override
        public ByteBuffer allocate(int bytes) {
            if (buf != null) {
                throw new IllegalStateException("one buffer per frame");
            }
            buf = alloc.directBuffer(bytes, bytes);
            return buf.nioBuffer(0, bytes);
        }

        void release() {
            if (buf != null) {
                buf.release();
                buf = null;
            }
        }
    }

    private void write(ByteBuf buf) {
        if (loop.inEventLoop() && hops.get() == 0) {
            writeOnLoop(buf);
        } else {
            hops.incrementAndGet();
            try {
                loop.execute(() -> {
                    hops.decrementAndGet();
                    writeOnLoop(buf);
                });
            } catch (java.util.concurrent.RejectedExecutionException shutDown) {
                // the event loop is gone, and the connection with it: the (pooled) buffer goes back
                hops.decrementAndGet();
                buf.release();
            }
        }
    }

    private void writeOnLoop(ByteBuf buf) {
        if (!ctx.channel().isActive()) {
            buf.release();
            return;
        }
        int bytes = buf.readableBytes();
        ctx.write(new BinaryWebSocketFrame(buf), ctx.voidPromise());
        flusher.wrote(bytes);
    }

    /** True while the connection's outbound buffer is above its high-water mark. Any thread. */
    public boolean writeQueueFull() {
        return !ctx.channel().isWritable();
    }
}
