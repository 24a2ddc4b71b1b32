package dev.splitstream.exit.relay;

import io.netty.channel.Channel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.AttributeKey;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.NetSocketInternal;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Two sockets joined byte for byte, with backpressure both ways and half-close as a TCP proxy (or nginx for an upgraded
 * connection) does it: one side's FIN becomes the other side's FIN once everything before it was written, and the
 * other direction keeps flowing. Both sockets must allow half-close ({@code SocketBridge.configure}), so that a FIN
 * arrives as an event instead of closing the socket.
 *
 * <p>The half-closed state may be bounded: once one direction has ended, the other must end within {@code halfClosed}
 * (null: no bound of its own, when the far end bounds it), else both sockets are closed. The sockets may live on different event loops: the splice's own state is atomic.
 */
final class Splice {
    /** Bytes one direction may queue before its reader pauses. */
    static final int HIGH_WATER = 512 * 1024;

    private static final AttributeKey<Boolean> INPUT_SHUT_DOWN = AttributeKey.valueOf("splitstream.inputShutDown");

    /** What the splice moved, for the caller's log and audit line; {@code halfClosedTimeout}: the bound ended it. */
    interface Ended {
        void ended(long aToB, long bToA, boolean halfClosedTimeout);
    }

    private final Vertx vertx;
    private final NetSocket a;
    private final NetSocket b;
    private final Duration halfClosed;
    private final Ended ended;
    private final AtomicLong aToB = new AtomicLong();
    private final AtomicLong bToA = new AtomicLong();
    private final AtomicInteger fins = new AtomicInteger();
    private final AtomicBoolean done = new AtomicBoolean();
    private final AtomicBoolean timedOut = new AtomicBoolean();
    private volatile long timer = -1;

    private Splice(Vertx vertx, NetSocket a, NetSocket b, Duration halfClosed, Ended ended) {
        this.vertx = vertx;
        this.a = a;
        this.b = b;
        this.halfClosed = halfClosed;
        this.ended = ended;
    }

    /**
     * Joins {@code a} and {@code b}; {@code early} (bytes {@code b} sent before the splice, e.g. after an HTTP answer's
     * head) goes to {@code a} first. Both start reading here (callers hold them with AUTO_READ off, so no bytes wait
     * in a paused socket's queue behind a FIN).
     */
    static Splice start(Vertx vertx, NetSocket a, NetSocket b, Buffer early, Duration halfClosed, Ended ended) {
        Splice s = new Splice(vertx, a, b, halfClosed, ended);
        if (early != null && early.length() > 0) {
            s.bToA.addAndGet(early.length());
            a.write(early);
        }
        Channel ca = channel(a);
        Channel cb = channel(b);
        s.direction(a, ca, b, cb, s.aToB);
        s.direction(b, cb, a, ca, s.bToA);
        // A socket that closes (both ways, or reset) ends the splice once what it sent reached the other side.
        a.closeHandler(v -> b.write(Buffer.buffer()).onComplete(x -> s.end()));
        b.closeHandler(v -> a.write(Buffer.buffer()).onComplete(x -> s.end()));
        // Sockets paused through Vert.x deliver what waits in its queue; sockets whose AUTO_READ was off read again.
        a.resume();
        b.resume();
        reading(a, ca, true);
        reading(b, cb, true);
        return s;
    }

    private static Channel channel(NetSocket socket) {
        return socket instanceof NetSocketInternal internal
                ? internal.channelHandlerContext().channel()
                : null;
    }

    /**
     * Copies {@code from} to {@code to}: reading stops (the channel's AUTO_READ, so a FIN never overtakes data queued
     * in a paused socket) while {@code to} cannot take more. {@code from}'s FIN becomes {@code to}'s once everything
     * before it was written.
     */
    private void direction(NetSocket from, Channel fromChannel, NetSocket to, Channel toChannel, AtomicLong counted) {
        to.setWriteQueueMaxSize(HIGH_WATER);
        from.handler(buffer -> {
            counted.addAndGet(buffer.length());
            to.write(buffer);
            if (to.writeQueueFull()) {
                reading(from, fromChannel, false);
                to.drainHandler(v -> reading(from, fromChannel, true));
            }
        });
        from.exceptionHandler(t -> end());
        AtomicBoolean finished = new AtomicBoolean();
        Runnable finish = () -> {
            if (!finished.compareAndSet(false, true)) {
                return;
            }
            to.write(Buffer.buffer()).onComplete(v -> {
                if (toChannel instanceof DuplexChannel duplex && !duplex.isOutputShutdown()) {
                    duplex.shutdownOutput();
                } else if (!(toChannel instanceof DuplexChannel)) {
                    to.end();
                }
                fin();
            });
        };
        if (!(from instanceof NetSocketInternal internal)) {
            from.endHandler(v -> finish.run());
            return;
        }
        internal.eventHandler(event -> {
            if (event == ChannelInputShutdownEvent.INSTANCE) {
                finish.run();
            }
        });
        // A FIN that came before the splice was noted by SocketBridge.configure's handler.
        if (fromChannel != null
                && Boolean.TRUE.equals(fromChannel.attr(INPUT_SHUT_DOWN).get())) {
            finish.run();
        }
    }

    /** One direction ended: both ended closes the sockets; the first starts the half-closed bound. */
    private void fin() {
        if (fins.incrementAndGet() >= 2) {
            end();
            return;
        }
        if (halfClosed == null) {
            return;
        }
        long ms = Math.max(1, halfClosed.toMillis());
        timer = vertx.setTimer(ms, id -> {
            if (!done.get()) {
                timedOut.set(true);
                end();
            }
        });
        if (done.get()) {
            vertx.cancelTimer(timer);
        }
    }

    /** Closes both sockets (idempotent) and reports the bytes moved. */
    void end() {
        if (!done.compareAndSet(false, true)) {
            return;
        }
        long t = timer;
        if (t >= 0) {
            vertx.cancelTimer(t);
        }
        a.close();
        b.close();
        ended.ended(aToB.get(), bToA.get(), timedOut.get());
    }

    private static void reading(NetSocket socket, Channel channel, boolean on) {
        if (channel != null) {
            channel.config().setAutoRead(on);
        } else if (on) {
            socket.resume();
        } else {
            socket.pause();
        }
    }
}
