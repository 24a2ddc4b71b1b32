package dev.splitstream.exit.target;

import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import dev.splitstream.protocol.StreamHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.NetSocketInternal;
import java.nio.ByteBuffer;

/**
 * Pumps bytes between one stream and its target socket, with backpressure both ways, on the session's context.
 *
 * <ul>
 *   <li>target to tunnel: {@link Stream#write} returning false stops reading the socket (auto-read off) until
 *       {@link #onWritable};
 *   <li>tunnel to target: credit is returned with {@link Stream#consumed} only once the socket accepted the bytes, and
 *       held back while the socket's write queue is full (until its drain handler runs);
 *   <li>FIN both ways: the target's FIN (half-close enabled by {@link TargetDialer}) becomes {@link Stream#finish};
 *       the entry's FIN shuts the socket's output down after the queued writes, and the socket closes once both
 *       directions are done.
 * </ul>
 */
public final class TargetBridge implements StreamHandler {
    private final NetSocket socket;
    private final ExitMetrics metrics;
    private Stream stream;
    private boolean inputDone;
    private boolean outputDone;
    private boolean closed;
    private long pendingCredit;
    private boolean drainArmed;
    private Future<Void> lastWrite = Future.succeededFuture();
    private Channel channel;

    public TargetBridge(NetSocket socket, ExitMetrics metrics) {
        this.socket = socket;
        this.metrics = metrics;
    }

    /** Accepts the stream and starts pumping. Call on the session's context. */
    public void start(Stream s) {
        this.stream = s;
        metrics.streamOpened();
        if (socket instanceof NetSocketInternal internal) {
            channel = internal.channelHandlerContext().channel();
            // Raw reads, in pipeline order with the FIN event below. Vert.x's own handler() path queues reads while
            // paused but reports a FIN (or a close) at once, which would overtake the queued bytes.
            internal.messageHandler(this::fromTarget);
            internal.eventHandler(evt -> {
                if (evt instanceof ChannelInputShutdownEvent) {
                    targetFinished();
                }
            });
        } else {
            socket.handler(buffer -> fromTarget(Unpooled.wrappedBuffer(buffer.getBytes())));
            socket.endHandler(v -> targetFinished());
        }
        socket.exceptionHandler(t -> {
            if (!closed) {
                stream.reset(ResetCode.CONNECT_FAILED, "target connection failed: " + t.getMessage());
                close();
            }
        });
        socket.closeHandler(v -> {
            if (!closed) {
                closed = true;
                metrics.streamClosed();
                // The target went away entirely: what it sent is delivered, then FIN; anything still arriving for it
                // is dropped with a reset in onData.
                targetFinished();
            }
        });
        s.accept(this);
    }

    private void fromTarget(Object message) {
        if (!(message instanceof ByteBuf buf)) {
            ReferenceCountUtil.release(message);
            return;
        }
        try {
            if (inputDone) {
                return;
            }
            int n = buf.readableBytes();
            if (n == 0) {
                return;
            }
            metrics.bytesDown(n);
            // The session keeps the bytes until acknowledged: copy out of Netty's pooled buffer.
            ByteBuffer data = ByteBuffer.allocate(n);
            buf.getBytes(buf.readerIndex(), data);
            data.flip();
            if (!stream.write(data)) {
                pauseTarget();
            }
        } finally {
            buf.release();
        }
    }

    private void pauseTarget() {
        if (channel != null) {
            channel.config().setAutoRead(false);
        } else {
            socket.pause();
        }
    }

    private void resumeTarget() {
        if (channel != null) {
            channel.config().setAutoRead(true);
        } else {
            socket.resume();
        }
    }

    private void targetFinished() {
        if (!inputDone) {
            inputDone = true;
            stream.finish();
            closeIfDone();
        }
    }

    @Override
    public void onWritable(Stream s) {
        if (!closed) {
            resumeTarget();
        }
    }

    @Override
    public void onData(Stream s, ByteBuffer data) {
        int n = data.remaining();
        if (closed || outputDone) {
            s.consumed(n);
            if (closed) {
                s.reset(ResetCode.CANCELLED, "target closed the connection");
            }
            return;
        }
        metrics.bytesUp(n);
        lastWrite = socket.write(Buffer.buffer(Unpooled.wrappedBuffer(data)));
        lastWrite.onComplete(ar -> {
            if (closed) {
                return;
            }
            if (socket.writeQueueFull()) {
                pendingCredit += n;
                if (!drainArmed) {
                    drainArmed = true;
                    socket.drainHandler(v -> {
                        drainArmed = false;
                        releaseCredit();
                    });
                }
            } else {
                pendingCredit += n;
                releaseCredit();
            }
        });
    }

    private void releaseCredit() {
        long credit = pendingCredit;
        pendingCredit = 0;
        while (credit > 0) {
            int chunk = (int) Math.min(Integer.MAX_VALUE, credit);
            stream.consumed(chunk);
            credit -= chunk;
        }
    }

    @Override
    public void onFin(Stream s) {
        if (outputDone || closed) {
            return;
        }
        outputDone = true;
        // shutdownOutput would fail writes still queued in Netty: wait for the last one.
        lastWrite.onComplete(ar -> {
            if (closed) {
                return;
            }
            if (channel instanceof DuplexChannel duplex && !inputDone) {
                duplex.shutdownOutput();
            } else {
                close();
            }
            closeIfDone();
        });
    }

    @Override
    public void onReset(Stream s, ResetCode code, String message) {
        close();
    }

    private void closeIfDone() {
        if (inputDone && outputDone && !closed) {
            lastWrite.onComplete(ar -> close());
        }
    }

    private void close() {
        if (!closed) {
            closed = true;
            metrics.streamClosed();
            socket.close();
        }
    }
}
