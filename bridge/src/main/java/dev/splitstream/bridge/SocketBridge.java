package dev.splitstream.bridge;

import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.RateLimitedLog;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelConfig;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.AttributeKey;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.impl.ContextInternal;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.core.net.impl.NetSocketInternal;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Joins one TCP socket to one stream of a session, with backpressure both ways, half-close and resets with reasons.
 * The one place in Splitstream where sockets meet streams, used in four ways:
 *
 * <ul>
 *   <li><b>opening</b> ({@link #open}): a client connected to a listener (the entry's forwards, SOCKS and CONNECT
 *       listeners; the exit's public ports) and a stream is opened for it; the socket does not read until the far
 *       side accepted, then {@link Replies#accepted} lets the listener answer its own protocol and call {@link #relay};
 *   <li><b>accepting</b> ({@link #accept}): the peer opened a stream, this side dialed its target (the exit's targets,
 *       an agent's exposed services) and relays at once.
 * </ul>
 *
 * <p>Two threads may meet here: the socket's event loop and the session's. Fields are grouped by the thread that owns
 * them; every crossing goes through {@link #onSocket} or {@link #onStream}, which run the task directly when already on
 * that thread and queue it on the context otherwise, so tasks from one side run in order and a pause is never overtaken
 * by its resume.
 *
 * <p>Flow control: bytes read from the socket go to {@link Stream#write}; when it returns false the socket stops
 * reading until {@link #onWritable}. Bytes from the stream are written to the socket; their receive credit is returned
 * with {@link Stream#consumed} at once while the socket's write queue has room, else when it drains. A client that
 * stops reading thus stops the far sender after one stream window.
 *
 * <p>Half-close: Vert.x 4's NetSocket has no half-close API, so this uses its Netty channel: the channel is put in
 * ALLOW_HALF_CLOSURE mode, the socket's FIN arrives as a {@link ChannelInputShutdownEvent} and becomes {@link
 * Stream#finish}, and the peer's FIN becomes {@code shutdownOutput()} once every queued byte is written. Reading is
 * switched with the channel's AUTO_READ rather than {@link NetSocket#pause()}: a paused NetSocket parks bytes already
 * read in its own buffer while user events (the FIN) bypass that buffer, so the FIN would overtake queued data.
 *
 * <p>Memory: every bridge holds a {@link BufferBudget.Lease} of the node's budget. Bytes read from the socket are charged
 * at once (on the socket's thread, before they cross to the session) and released when the peer acknowledges them;
 * bytes from the stream are charged when they arrive and released when the socket has written them. A bridge whose
 * lease may take no more stops reading its socket and holds back the stream's receive credit until the budget has
 * room; reads are at most one share, larger (up to 64 KiB) only while the budget grants the extra bytes far from its
 * limit ({@link BudgetedReads}). A bridge that gets no lease (the budget is spent) refuses its stream, saying so.
 * The lease ends when the socket closes.
 *
 * <p>Resets: a socket that fails or closes before both directions finished resets the stream with the reason; a reset
 * from the peer aborts the socket (linger 0, so the client sees an error rather than a clean end of a truncated
 * reply), unless the peer had already sent its FIN: then everything it sent is still written before the socket closes.
 */
public final class SocketBridge implements StreamEndpoint {
    private static final Logger LOG = Logger.getLogger(SocketBridge.class);
    /** Refusals local clients (or a peer) can provoke at any rate: a few lines per reason per interval. */
    public static final RateLimitedLog REFUSALS = RateLimitedLog.of(LOG::warn);
    /**
     * Streams reset because the node will not hold the peer's bytes (a flood resets thousands): a few lines per interval,
     * then a count.
     */
    public static final RateLimitedLog OVERRUNS = RateLimitedLog.of(LOG::info);

    private static final AttributeKey<Boolean> INPUT_SHUT_DOWN = AttributeKey.valueOf("splitstream.inputShutDown");
    /**
     * Per budget (tests run two in one JVM; a single static made the "refused meanwhile" count negative): whether new
     * streams are being refused for it now, and its refusal count when that began.
     */
    private static final java.util.Map<BufferBudget, Refusing> REFUSING =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    private static final class Refusing {
        final AtomicBoolean now = new AtomicBoolean();
        final AtomicLong before = new AtomicLong();
    }

    /** What a listener does when the far side answered an {@link #open}ed stream (both run on the socket's thread). */
    public interface Replies {
        /** The far side connected: send the listener protocol's success reply, then call {@link #relay}. */
        void accepted(SocketBridge bridge);

        /** The stream was refused: send the protocol's failure reply; the bridge closes the socket afterwards. */
        void refused(SocketBridge bridge, ResetCode code, String message);
    }

    /** For plain TCP clients: relay as soon as the far side accepted; a refusal just closes the connection. */
    public static final Replies PLAIN = new Replies() {
        @Override
        public void accepted(SocketBridge bridge) {
            bridge.relay(null);
        }

        @Override
        public void refused(SocketBridge bridge, ResetCode code, String message) {
            // A plain TCP client has no way to learn why: the connection just closes (logged as WARN).
        }
    };

    private final NetSocket socket;
    private final ContextInternal socketContext;
    private final String socketName;
    private final String label;
    private final BridgeMetrics metrics;
    private final Replies replies;
    private final BufferBudget budget;
    /** How the socket's reads are sized; null when the share is as large as a read may be, or not a Netty socket. */
    private final BudgetedReads reads;
    /**
     * Writes to the socket go below Vert.x's handler through this (one flush per event-loop turn); null when the socket
     * exposes no Netty channel (then Vert.x writes and flushes each).
     */
    private final ChannelHandlerContext writeCtx;

    private final TurnFlusher flusher;
    /** Null until the budget granted a share ({@link #granted}); for good when {@link #waiter} is null. */
    private volatile BufferBudget.Lease lease;
    /** Null when the budget was spent as this bridge was created and too many streams waited already: refused. */
    private final BufferBudget.Waiter waiter;
    /**
     * How long a new stream waits for a share of a spent budget before it is refused: a burst of connections arrives
     * faster than earlier streams become idle (2 s) and lend theirs.
     */
    static final long SHARE_WAIT_MILLIS = 5_000;

    // Guarded by this: what to go on with once a share is granted.
    private Consumer<StreamEndpoint> pendingOpener;
    private boolean pendingAccept;

    /**
     * Most bytes read from the socket and not yet taken by the stream (they wait in tasks for the stream's thread).
     * Beyond it the socket stops reading until the stream's thread caught up to {@link #IN_FLIGHT_LOW}: without it a
     * busy session thread would let a fast client fill the heap with queued reads before the stream's "stop" arrives.
     */
    static final long IN_FLIGHT_MAX = 256 * 1024;

    static final long IN_FLIGHT_LOW = 64 * 1024;

    // Owned by the socket's thread.
    private boolean relaying;
    /** The stream asked to stop ({@link Stream#write} returned false) and has not said {@link #onWritable} since. */
    private boolean streamBlocked;

    private boolean answered;
    private boolean localFin;
    private boolean remoteFinWritten;
    private boolean socketClosed;
    private long pendingCredit;
    private String failure;
    /** Reading stopped, or credit held back, because the lease may take no more (until the budget has room). */
    private boolean budgetBlocked;

    // Owned by the stream's (session's) thread.
    private Stream stream;
    private boolean streamDone;
    private boolean finSent;
    private boolean finReceived;
    /**
     * {@link Stream#write} returned false and {@link #onWritable} has not come since. Alone it does not make the stream
     * stuck: under a flood the session's send buffer is full for every stream; only a stream whose peer gives it no
     * credit (its far side does not read) is {@link BufferBudget.Lease#starved}.
     */
    private boolean writeRefused;

    // Crossing: written once by one side, read by the other.
    private final java.util.concurrent.atomic.AtomicLong inFlight = new java.util.concurrent.atomic.AtomicLong();
    /** Reading stopped because {@link #IN_FLIGHT_MAX} bytes are on their way to the stream. Written by the socket. */
    private volatile boolean flightBlocked;

    private volatile ContextInternal streamContext;
    private volatile boolean cancelled;

    /**
     * Takes over {@code socket} (already {@link #configure}d, by {@link Listeners} or {@link Dialer}): it stops
     * reading until the stream is ready. Call on the socket's thread.
     *
     * @param socketName what the socket is, for reset messages ("local connection", "target connection")
     * @param label where the stream leads, for logs ("db:5432")
     * @param replies for {@link #open}: the listener's answers; null for {@link #accept}
     * @param budget the node's buffer budget; this bridge takes a lease of it, or refuses its stream when it is spent
     */
    public SocketBridge(
            NetSocket socket,
            String socketName,
            String label,
            BridgeMetrics metrics,
            Replies replies,
            BufferBudget budget) {
        this.socket = socket;
        this.budget = budget;
        this.socketContext =
                socket instanceof ConnectionBase base ? base.getContext() : (ContextInternal) Vertx.currentContext();
        this.socketName = socketName;
        this.label = label;
        this.metrics = metrics;
        this.replies = replies;
        reading(false);
        this.reads = sizeReads(socket, budget);
        if (socket instanceof NetSocketInternal internal && internal.channelHandlerContext() != null) {
            writeCtx = internal.channelHandlerContext();
            flusher = new TurnFlusher(writeCtx);
        } else {
            writeCtx = null;
            flusher = null;
        }
        metrics.connectionOpened();
        // Clients of a listener are told apart by address: one cannot lock the others out (BufferBudget). A share may
        // be granted at once (granted runs here) or later, while the socket reads nothing.
        this.waiter = budget.openOrWait(
                replies != null && socket.remoteAddress() != null
                        ? socket.remoteAddress().host()
                        : null,
                this::granted);
        if (waiter == null) {
            noteBudget(budget, false);
        }
        socket.closeHandler(v -> onSocketClosed());
        socket.exceptionHandler(t -> {
            LOG.debugf("%s for %s: %s", socketName, label, t.toString());
            if (failure == null) {
                failure = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
            }
            socket.close();
        });
    }

    /**
     * Prepares a fresh socket: TCP_NODELAY, half-close allowed, and its FIN remembered even when it arrives before a
     * bridge exists (during a SOCKS or CONNECT negotiation).
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
     * As {@link #configure(NetSocket)}, and the reads of {@code socket} are sized by {@code budget} from its first read
     * on ({@link BudgetedReads}: at most one share until a bridge has a lease): for sockets that read before their
     * bridge exists (a SOCKS5 or HTTP CONNECT request). Netty keeps the read handle it made at a channel's first read,
     * so the bridge takes over the allocator set here; such a socket would otherwise read up to 64 KiB at once.
     */
    public static void configure(NetSocket socket, BufferBudget budget) {
        configure(socket);
        sizeReads(socket, budget);
    }

    /**
     * Reads of at most one share, or up to 64 KiB while the budget grants the extra bytes ({@link BudgetedReads}): a
     * lease overshoots its allowance by one read at most (see the class comment). Returns the socket's allocator, the
     * one set before if it had one.
     */
    private static BudgetedReads sizeReads(NetSocket socket, BufferBudget budget) {
        if (socket instanceof NetSocketInternal internal && budget.share() < BudgetedReads.MAX_READ) {
            ChannelConfig config = internal.channelHandlerContext().channel().config();
            if (config.getRecvByteBufAllocator() instanceof BudgetedReads already) {
                return already;
            }
            BudgetedReads reads = new BudgetedReads(budget.share());
            config.setRecvByteBufAllocator(reads);
            return reads;
        }
        return null;
    }

    /** Stops or restarts reading {@code socket} (AUTO_READ on its channel; see the class comment for why). */
    public static void reading(NetSocket socket, boolean on) {
        if (socket instanceof NetSocketInternal internal) {
            internal.channelHandlerContext().channel().config().setAutoRead(on);
        } else if (on) {
            socket.resume();
        } else {
            socket.pause();
        }
    }

    private void reading(boolean on) {
        reading(socket, on);
    }

    /** Where the stream leads, as given to the constructor. */
    public String label() {
        return label;
    }

    /** True once the socket closed (a connection waiting for a stream may be dropped). Any thread. */
    @Override
    public boolean isAbandoned() {
        return cancelled;
    }

    /** The socket, for the listener's replies. */
    public NetSocket socket() {
        return socket;
    }

    /**
     * Asks for a stream: {@code opener} must eventually call {@link #onOpen} (then {@link #onAccepted} or
     * {@link #onReset}) or {@link #onOpenFailed} on the session's thread. Call on the socket's thread.
     */
    public void open(Consumer<StreamEndpoint> opener) {
        if (waiter == null) {
            refuseForBudget();
            return;
        }
        boolean now;
        synchronized (this) {
            now = lease != null;
            if (!now) {
                pendingOpener = opener;
            }
        }
        if (now) {
            opener.accept(this);
            return;
        }
        socketContext
                .owner()
                .setTimer(
                        SHARE_WAIT_MILLIS,
                        id -> onSocket(() -> {
                            if (waiter.cancel()) {
                                synchronized (this) {
                                    pendingOpener = null;
                                }
                                noteBudget(budget, false);
                                refuseForBudget();
                            }
                        }));
    }

    private void refuseForBudget() {
        String why = spentMessage();
        LOG.debugf("stream to %s refused: %s", label, why);
        cancelled = true;
        refuse(ResetCode.TOO_MANY_STREAMS, why);
    }

    /** The budget granted this bridge its share (any thread; at once in the constructor, or after a wait). */
    private void granted(BufferBudget.Lease granted) {
        Consumer<StreamEndpoint> opener;
        boolean accept;
        synchronized (this) {
            lease = granted;
            opener = pendingOpener;
            pendingOpener = null;
            accept = pendingAccept;
            pendingAccept = false;
        }
        if (cancelled) {
            granted.close(); // the socket closed meanwhile (it may not have seen the lease)
            return;
        }
        granted.onEvict(this::evict);
        if (reads != null) {
            reads.lease(granted);
        }
        noteBudget(budget, true);
        if (opener != null) {
            onSocket(() -> {
                if (!socketClosed) {
                    opener.accept(this);
                }
            });
        }
        if (accept) {
            onStream(this::acceptGranted);
        }
    }

    /** Logs once per change of state: when the budget starts refusing new streams, and when it has room again. */
    static void noteBudget(BufferBudget budget, boolean granted) {
        Refusing refusing = REFUSING.computeIfAbsent(budget, b -> new Refusing());
        if (!granted && refusing.now.compareAndSet(false, true)) {
            refusing.before.set(budget.refused() - 1);
            LOG.warnf(
                    "buffer budget spent: new streams are refused until it has room (%s; splitstream.buffer.budget)",
                    budget.describe());
        } else if (granted && refusing.now.compareAndSet(true, false)) {
            LOG.infof(
                    "buffer budget has room again: new streams are accepted (%d refused meanwhile; %s)",
                    refusedMeanwhile(budget), budget.describe());
        }
    }

    /** Streams {@code budget} refused since it began refusing (for the "has room again" line). */
    static long refusedMeanwhile(BufferBudget budget) {
        Refusing refusing = REFUSING.get(budget);
        return refusing == null ? 0 : budget.refused() - refusing.before.get();
    }

    /**
     * Ends a stream that moved nothing for the stall time while the budget was short, or for a shorter time when a new
     * stream needed its place. Any thread.
     */
    private void evict() {
        BufferBudget.Lease evicted = lease;
        String rule = evicted == null ? "" : evicted.evictedFor();
        // which rule chose it, and why: stalled, preempted (stuck while the budget was spent) or fairness
        String why = "the node's buffer budget ended it (" + (rule.isEmpty() ? "short" : rule) + "; "
                + budget.describe() + ")";
        LOG.debugf("%s for %s evicted: %s", socketName, label, why);
        onStream(() -> {
            if (stream != null && !streamDone) {
                streamDone = true;
                stream.reset(ResetCode.CANCELLED, why);
            }
        });
        onSocket(this::abort);
    }

    /** True when this bridge got no part of the budget: its stream is refused. */
    public boolean refusedForBudget() {
        return waiter == null;
    }

    private String spentMessage() {
        return "the node's buffer budget is spent (" + budget.describe() + "); try again later";
    }

    /**
     * Accepts a stream the peer opened, whose target is this bridge's (dialed) socket, and starts relaying. Call on the
     * stream's session thread.
     */
    public void accept(Stream s) {
        streamContext = (ContextInternal) Vertx.currentContext();
        stream = s;
        if (waiter == null) {
            streamDone = true;
            s.reset(ResetCode.TOO_MANY_STREAMS, spentMessage());
            onSocket(socket::close);
            return;
        }
        boolean now;
        synchronized (this) {
            now = lease != null;
            if (!now) {
                pendingAccept = true;
            }
        }
        if (now) {
            acceptGranted();
            return;
        }
        streamContext
                .owner()
                .setTimer(
                        SHARE_WAIT_MILLIS,
                        id -> onStream(() -> {
                            if (waiter.cancel()) {
                                synchronized (this) {
                                    pendingAccept = false;
                                }
                                noteBudget(budget, false);
                                if (!streamDone) {
                                    streamDone = true;
                                    s.reset(ResetCode.TOO_MANY_STREAMS, spentMessage());
                                }
                                onSocket(socket::close);
                            }
                        }));
    }

    /** The rest of {@link #accept}, once the share is granted (stream thread). */
    private void acceptGranted() {
        Stream s = stream;
        if (streamDone) {
            return;
        }
        if (cancelled) {
            streamDone = true;
            s.reset(ResetCode.CANCELLED, closedMessage(null));
            return;
        }
        s.accept(this);
        if (!streamDone) {
            onSocket(() -> {
                if (!socketClosed) {
                    answered = true;
                    relay(null);
                }
            });
        }
    }

    /**
     * Starts moving bytes (socket thread), after the listener sent its success reply.
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
            if (budgetBlocked) {
                return; // the credit goes back once the budget has room (budgetRoom)
            }
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
            updateReading();
        }
    }

    /** Reads while relaying, before the client's FIN, unless the stream, the bytes on their way to it or the budget say stop. */
    private void updateReading() {
        if (flightBlocked && inFlight.get() <= IN_FLIGHT_LOW) {
            flightBlocked = false;
        }
        boolean wanted = relaying && !socketClosed && !localFin;
        reading(wanted && !streamBlocked && !budgetBlocked && !flightBlocked);
        // Stalled, if nothing moves for the stall time: it cannot read, or its socket finished sending and the far
        // side does not finish (a client that left while the far side never answers; it cannot be told from TCP).
        lease.blocked(relaying && !socketClosed && (localFin || streamBlocked || budgetBlocked));
    }

    /** The lease may take more: read again and return the credit held back. Socket thread. */
    private void budgetRoom() {
        if (!budgetBlocked) {
            return;
        }
        budgetBlocked = false;
        updateReading();
        if (!socket.writeQueueFull()) {
            long credit = pendingCredit;
            pendingCredit = 0;
            giveCredit(credit);
        }
    }

    private void waitForBudget() {
        if (budgetBlocked) {
            return;
        }
        budgetBlocked = true;
        lease.whenMayTake(() -> onSocket(this::budgetRoom));
    }

    // ---- socket thread ----

    private void fromSocket(Buffer data) {
        int n = data.length();
        if (n == 0) {
            return;
        }
        metrics.bytesFromSocket(n);
        if (!lease.charge(n)) {
            // Stop before the bytes cross to the session: the bound holds however many sockets are reading.
            waitForBudget();
            updateReading();
        }
        ByteBuffer bytes = data.getByteBuf().nioBuffer();
        if (inFlight.addAndGet(n) > IN_FLIGHT_MAX && !flightBlocked) {
            flightBlocked = true;
            // updateReading looks at the counter again: the stream's thread may have drained it before it could see
            // the flag.
            updateReading();
        }
        onStream(() -> {
            boolean more = stream == null || streamDone || stream.write(bytes);
            if (!more) {
                writeRefused = true;
                lease.starved(stream.sendWindow() <= 0);
            }
            long left = inFlight.addAndGet(-n);
            if (!more || (left <= IN_FLIGHT_LOW && flightBlocked)) {
                onSocket(() -> {
                    if (!more) {
                        streamBlocked = true;
                    }
                    updateReading();
                });
            }
        });
    }

    private void onLocalFin() {
        if (localFin) {
            return;
        }
        localFin = true;
        updateReading();
        onStream(() -> {
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

    private void toSocket(ByteBuf data, int n) {
        if (socketClosed) {
            return;
        }
        // Released once written: until then the bytes are in this process (the socket's write queue).
        if (writeCtx != null) {
            // Below Vert.x's handler, which flushes every write made outside the socket's own read: the frames cut
            // from one read of the tunnel leave in one writev, flushed at the end of the turn or at 64 KiB.
            ChannelPromise written = writeCtx.newPromise();
            written.addListener(f -> lease.written(n));
            writeCtx.write(data, written);
            flusher.wrote(n);
        } else {
            socket.write(Buffer.buffer(data)).onComplete(ar -> lease.written(n));
        }
        metrics.bytesToSocket(n);
        if (socket.writeQueueFull()) {
            pendingCredit += n;
        } else if (!lease.mayTake()) {
            // Over its share while the budget is spent: the peer gets no more credit for now.
            pendingCredit += n;
            waitForBudget();
        } else {
            giveCredit(n + pendingCredit);
            pendingCredit = 0;
        }
    }

    private void giveCredit(long credit) {
        if (credit <= 0) {
            return;
        }
        onStream(() -> {
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
            // Shut down output only after everything queued before it was written: writes complete in order.
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
        metrics.connectionClosed();
        cancelled = true; // before looking at the lease: a share granted meanwhile is closed by granted()
        BufferBudget.Lease l = lease;
        if (l != null) {
            l.close();
        } else if (waiter != null) {
            waiter.abandon();
        }
        String reason = closedMessage(failure);
        onStream(() -> {
            if (stream != null && !streamDone) {
                streamDone = true;
                stream.reset(ResetCode.CANCELLED, reason);
            }
        });
    }

    private String closedMessage(String why) {
        return socketName + " closed" + (why == null ? "" : ": " + why);
    }

    private void abort() {
        if (socketClosed) {
            return;
        }
        if (socket instanceof NetSocketInternal internal) {
            io.netty.channel.Channel channel = internal.channelHandlerContext().channel();
            if (channel.isOpen()) {
                // Linger 0: the client sees a reset, not an orderly end of data it would take as complete.
                try {
                    channel.config().setOption(ChannelOption.SO_LINGER, 0);
                } catch (io.netty.channel.ChannelException closedMeanwhile) {
                    // the socket closed since the check: its close handler ends the bridge
                }
            }
            // Closed below Vert.x's handler, not with socket.close() (nor channel.close(), which passes through that
            // handler): Vert.x closes a socket only once everything queued to it was written, which never happens when
            // the peer does not read, so an evicted stream kept its socket, its queued (direct) buffers and its lease
            // for good (a soak's exit held twice its budget and refused every new stream). This drops the queue; the
            // failed writes release their bytes, and the close handler runs as for any close.
            internal.channelHandlerContext().close();
            return;
        }
        socket.close();
    }

    private void closeAfterWrites() {
        if (!socketClosed) {
            socket.write(Buffer.buffer()).onComplete(ar -> socket.close());
        }
    }

    private void refuse(ResetCode code, String message) {
        if (socketClosed) {
            return;
        }
        answered = true;
        if (replies != null) {
            replies.refused(this, code, message);
        }
        socket.end();
    }

    // ---- stream (session) thread ----

    @Override
    public void onOpen(Stream s) {
        streamContext = (ContextInternal) Vertx.currentContext();
        stream = s;
        if (cancelled) {
            streamDone = true;
            s.reset(ResetCode.CANCELLED, closedMessage(null));
        }
    }

    @Override
    public void onOpenFailed(ResetCode code, String message) {
        streamDone = true;
        REFUSALS.log(code.name(), "stream to %s refused: %s %s", label, code, message);
        onSocket(() -> refuse(code, message));
    }

    @Override
    public void onAccepted(Stream s) {
        if (streamDone) {
            return;
        }
        onSocket(() -> {
            if (!socketClosed) {
                answered = true;
                replies.accepted(this);
            }
        });
    }

    @Override
    public void onData(Stream s, ByteBuffer data) {
        int n = data.remaining();
        if (cancelled) {
            return; // the socket is gone and the stream is being reset: nowhere to put the bytes
        }
        if (!lease.chargeArrived(n)) {
            // The peer may send within its window, but the node will not hold past twice its budget.
            streamDone = true;
            String why = "the node's buffer budget is spent (" + budget.describe()
                    + ") and this stream's reader does not keep up";
            OVERRUNS.log("budget", "stream %d to %s reset: %s", s.id(), label, why);
            s.reset(ResetCode.INTERNAL, why);
            onSocket(this::abort);
            return;
        }
        ByteBuf buffer = Unpooled.wrappedBuffer(data);
        onSocket(() -> toSocket(buffer, n));
    }

    @Override
    public void onAcknowledged(Stream s, int bytes) {
        lease.release(bytes);
        if (writeRefused) {
            // the session may have sent its queued bytes meanwhile: what is left to wait for is the peer's credit
            lease.starved(s.sendWindow() <= 0);
        }
    }

    @Override
    public int growWindow(Stream s, int wanted) {
        // Credit the peer may use must be credit the budget can hold: else a stream whose reader pauses is reset.
        return lease == null ? 0 : lease.growWindow(wanted);
    }

    @Override
    public void onFin(Stream s) {
        finReceived = true;
        finishedBothWays();
        onSocket(this::remoteFin);
    }

    @Override
    public void onReset(Stream s, ResetCode code, String message) {
        streamDone = true;
        if (cancelled) {
            return;
        }
        boolean peerFinished = finReceived;
        onSocket(() -> {
            if (!answered && replies != null) {
                REFUSALS.log(code.name(), "stream %d to %s refused: %s %s", s.id(), label, code, message);
                refuse(code, message);
            } else if (peerFinished) {
                LOG.debugf("stream %d to %s reset after its FIN: %s %s", s.id(), label, code, message);
                closeAfterWrites();
            } else {
                LOG.infof("stream %d to %s reset: %s %s", s.id(), label, code, message);
                abort();
            }
        });
    }

    @Override
    public void onWritable(Stream s) {
        writeRefused = false;
        lease.starved(false);
        onSocket(() -> {
            streamBlocked = false;
            updateReading();
        });
    }

    private void finishedBothWays() {
        if (finSent && finReceived) {
            streamDone = true;
        }
    }

    private void onStream(Runnable r) {
        ContextInternal ctx = streamContext;
        if (ctx == null) {
            return; // no stream yet: nothing to tell it
        }
        run(ctx, r);
    }

    private void onSocket(Runnable r) {
        run(socketContext, r);
    }

    private static void run(ContextInternal ctx, Runnable r) {
        if (ctx.nettyEventLoop().inEventLoop()) {
            r.run();
        } else {
            ctx.runOnContext(v -> r.run());
        }
    }
}
