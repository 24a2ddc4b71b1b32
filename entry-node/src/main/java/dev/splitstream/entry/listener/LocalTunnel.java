package dev.splitstream.entry.listener;

import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import dev.splitstream.entry.session.TunnelEndpoint;
import dev.splitstream.protocol.RateLimitedLog;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.AttributeKey;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.NetSocketInternal;
import java.nio.ByteBuffer;
import org.jboss.logging.Logger;

/**
 * Joins one local TCP connection to one stream of the session, with backpressure both ways and half-close.
 *
 * <p>Two threads meet here: the socket's event loop ({@link #socketContext}) and the session's ({@link
 * SessionManager#context()}). Fields are grouped by the context that owns them; every crossing is a
 * {@code runOnContext}, and tasks on one context run in order, so a pause is never overtaken by its resume.
 *
 * <p>Flow control: bytes read from the socket go to {@link Stream#write}; when it returns false the socket is paused
 * until {@link #onWritable}. Bytes from the stream are written to the socket; their receive credit is returned with
 * {@link Stream#consumed} at once while the socket's write queue has room, else when it drains. A client that stops
 * reading thus stops the far sender after one stream window.
 *
 * <p>Half-close: Vert.x 4's NetSocket has no half-close API, so this uses its internal Netty channel: the channel is
 * put in ALLOW_HALF_CLOSURE mode, the client's FIN arrives as a {@link ChannelInputShutdownEvent} and becomes
 * {@link Stream#finish}, and the peer's FIN becomes {@code shutdownOutput()} once every queued byte is written.
 */
public final class LocalTunnel implements TunnelEndpoint {
    private static final Logger LOG = Logger.getLogger(LocalTunnel.class);
    /** Refusals local clients can provoke at any rate: a few lines per reason per interval. */
    public static final RateLimitedLog REFUSALS = RateLimitedLog.of(LOG::warn);

    private static final AttributeKey<Boolean> INPUT_SHUT_DOWN = AttributeKey.valueOf("splitstream.inputShutDown");

    /** What the listener does when the exit node answered (both run on the socket's context). */
    public interface Callbacks {
        /** The target is connected: send the protocol's success reply, then call {@link #relay}. */
        void accepted(LocalTunnel tunnel);

        /** The stream was refused: send the protocol's failure reply; the tunnel closes the socket afterwards. */
        void refused(LocalTunnel tunnel, ResetCode code, String message);
    }

    private final NetSocket socket;
    private final Context socketContext;
    private final SessionManager manager;
    private final EntryMetrics metrics;
    private final String host;
    private final int port;
    private final Callbacks callbacks;

    // Owned by the socket's context.
    private boolean relaying;
    private boolean answered;
    private boolean localFin;
    private boolean remoteFinWritten;
    private boolean socketClosed;
    private long pendingCredit;

    // Owned by the session's context.
    private Stream stream;
    private boolean cancelled;
    private boolean streamDone;
    private boolean finSent;
    private boolean finReceived;

    public LocalTunnel(
            NetSocket socket, SessionManager manager, EntryMetrics metrics, String host, int port, Callbacks cb) {
        this.socket = socket;
        this.socketContext = Vertx.currentContext();
        this.manager = manager;
        this.metrics = metrics;
        this.host = host;
        this.port = port;
        this.callbacks = cb;
    }

    /** Target as {@code host:port}. */
    public String target() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /**
     * Prepares a freshly accepted socket: TCP_NODELAY, half-close allowed, and the client's FIN remembered even when it
     * arrives before a tunnel exists (during the SOCKS or CONNECT negotiation).
     */
    public static void configure(NetSocket socket) {
        if (socket instanceof NetSocketInternal internal) {
            Channel ch = internal.channelHandlerContext().channel();
            ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            ch.config().setOption(ChannelOption.TCP_NODELAY, true);
            internal.eventHandler(event -> {
                if (event == ChannelInputShutdownEvent.INSTANCE) {
                    ch.attr(INPUT_SHUT_DOWN).set(Boolean.TRUE);
                }
            });
        }
    }

    /**
     * Stops or restarts reading the socket. With a Netty channel this switches AUTO_READ directly rather than calling
     * {@link NetSocket#pause()}: a paused NetSocket parks bytes already read in its own buffer while user events (the
     * client's FIN) bypass that buffer, so the FIN would overtake data. With AUTO_READ off nothing more is read, so
     * bytes and the FIN reach the handlers in the order they arrived.
     */
    private void reading(boolean on) {
        if (socket instanceof NetSocketInternal internal) {
            internal.channelHandlerContext().channel().config().setAutoRead(on);
        } else if (on) {
            socket.resume();
        } else {
            socket.pause();
        }
    }

    /** Asks the session for a stream to the target; the socket stays paused until it is accepted. Socket context. */
    public void open() {
        reading(false);
        metrics.streamOpened();
        socket.closeHandler(v -> onSocketClosed());
        socket.exceptionHandler(t -> {
            LOG.debugf("local connection for %s: %s", target(), t.toString());
            socket.close();
        });
        manager.open(host, port, this);
    }

    /**
     * Starts moving bytes (socket context), after the listener sent its success reply.
     *
     * @param early bytes the client sent after its request and before the reply, or null
     */
    public void relay(Buffer early) {
        if (socketClosed) {
            return;
        }
        relaying = true;
        socket.handler(this::fromSocket);
        socket.drainHandler(v -> {
            long credit = pendingCredit;
            pendingCredit = 0;
            giveCredit(credit);
        });
        boolean finAlready = false;
        if (socket instanceof NetSocketInternal internal) {
            Channel ch = internal.channelHandlerContext().channel();
            finAlready = Boolean.TRUE.equals(ch.attr(INPUT_SHUT_DOWN).get());
            internal.eventHandler(event -> {
                if (event == ChannelInputShutdownEvent.INSTANCE) {
                    onLocalFin();
                }
            });
        } else {
            socket.endHandler(v -> onLocalFin());
        }
        if (early != null && early.length() > 0) {
            fromSocket(early);
        }
        if (finAlready) {
            onLocalFin();
        } else {
            reading(true);
        }
    }

    // ---- socket context ----

    private void fromSocket(Buffer data) {
        int n = data.length();
        if (n == 0) {
            return;
        }
        metrics.bytesUp(n);
        ByteBuffer bytes = data.getByteBuf().nioBuffer();
        onSession(() -> {
            if (stream != null && !streamDone && !stream.write(bytes)) {
                onSocket(() -> reading(false));
            }
        });
    }

    private void onLocalFin() {
        if (localFin) {
            return;
        }
        localFin = true;
        onSession(() -> {
            if (stream != null && !streamDone && !finSent) {
                finSent = true;
                stream.finish();
                finishedBothWays();
            }
        });
        if (remoteFinWritten) {
            socket.close();
        }
    }

    private void toSocket(Buffer data, int n) {
        if (socketClosed) {
            return;
        }
        socket.write(data);
        metrics.bytesDown(n);
        if (socket.writeQueueFull()) {
            pendingCredit += n;
        } else {
            giveCredit(n + pendingCredit);
            pendingCredit = 0;
        }
    }

    private void giveCredit(long credit) {
        if (credit <= 0) {
            return;
        }
        onSession(() -> {
            if (stream != null && !streamDone) {
                stream.consumed((int) credit);
            }
        });
    }

    private void remoteFin() {
        if (socketClosed) {
            return;
        }
        if (socket instanceof NetSocketInternal internal
                && internal.channelHandlerContext().channel() instanceof DuplexChannel duplex) {
            // Shut down output only after everything queued before it was written: a write completes in order.
            socket.write(Buffer.buffer()).onComplete(ar -> {
                remoteFinWritten = true;
                if (localFin) {
                    socket.close();
                } else if (!duplex.isOutputShutdown()) {
                    duplex.shutdownOutput();
                }
            });
        } else {
            socket.end();
        }
    }

    private void onSocketClosed() {
        if (socketClosed) {
            return;
        }
        socketClosed = true;
        metrics.streamClosed();
        onSession(() -> {
            cancelled = true;
            if (stream != null && !streamDone) {
                streamDone = true;
                stream.reset(ResetCode.CANCELLED, "local connection closed");
            }
        });
    }

    private void abort() {
        if (socketClosed) {
            return;
        }
        if (socket instanceof NetSocketInternal internal) {
            // Linger 0: the client sees a reset, not an orderly end of data it would take as complete.
            internal.channelHandlerContext().channel().config().setOption(ChannelOption.SO_LINGER, 0);
        }
        socket.close();
    }

    // ---- session context (TunnelEndpoint) ----

    @Override
    public void onOpen(Stream stream) {
        this.stream = stream;
        if (cancelled) {
            streamDone = true;
            stream.reset(ResetCode.CANCELLED, "local connection closed");
        }
    }

    @Override
    public void onOpenFailed(ResetCode code, String message) {
        streamDone = true;
        REFUSALS.log(code.name(), "stream to %s refused: %s %s", target(), code, message);
        onSocket(() -> refuse(code, message));
    }

    @Override
    public void onAccepted(Stream stream) {
        if (streamDone) {
            return;
        }
        onSocket(() -> {
            if (!socketClosed) {
                answered = true;
                callbacks.accepted(this);
            }
        });
    }

    @Override
    public void onData(Stream stream, ByteBuffer data) {
        int n = data.remaining();
        Buffer buffer = Buffer.buffer(Unpooled.wrappedBuffer(data));
        onSocket(() -> toSocket(buffer, n));
    }

    @Override
    public void onFin(Stream stream) {
        finReceived = true;
        finishedBothWays();
        onSocket(this::remoteFin);
    }

    @Override
    public void onReset(Stream stream, ResetCode code, String message) {
        streamDone = true;
        if (cancelled) {
            return;
        }
        onSocket(() -> {
            if (!answered) {
                REFUSALS.log(code.name(), "stream %d to %s refused: %s %s", stream.id(), target(), code, message);
                refuse(code, message);
            } else {
                LOG.infof("stream %d to %s reset: %s %s", stream.id(), target(), code, message);
                abort();
            }
        });
    }

    @Override
    public void onWritable(Stream stream) {
        onSocket(() -> {
            if (!socketClosed && relaying && !localFin) {
                reading(true);
            }
        });
    }

    private void refuse(ResetCode code, String message) {
        if (socketClosed) {
            return;
        }
        answered = true;
        callbacks.refused(this, code, message);
        socket.end();
    }

    private void finishedBothWays() {
        if (finSent && finReceived) {
            streamDone = true;
        }
    }

    private void onSession(Runnable r) {
        manager.context().runOnContext(v -> r.run());
    }

    private void onSocket(Runnable r) {
        socketContext.runOnContext(v -> r.run());
    }

    /** The socket, for the listener's replies. */
    public NetSocket socket() {
        return socket;
    }
}
