package dev.splitstream.entry.session;

import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.transport.ws.WebSocketTransport;
import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameSink;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Session;
import dev.splitstream.protocol.SessionListener;
import dev.splitstream.protocol.Stream;
import io.netty.buffer.Unpooled;
import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.impl.ContextInternal;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Keeps one multiplexed session with the exit node alive: connects, runs the handshake, pings, detects a dead
 * connection, reconnects with backoff and resumes the session so open streams carry on; starts a new session when the
 * exit node no longer knows the old one.
 *
 * <p>Threading: the session, its streams and all fields below live on one Vert.x event-loop context ({@link #context});
 * public methods may be called from any thread and hop onto it.
 */
@ApplicationScoped
public class SessionManager {
    private static final Logger LOG = Logger.getLogger(SessionManager.class);

    /** How often ACKs are flushed: short enough to keep the peer's resend buffer small, long enough to batch. */
    static final long ACK_FLUSH_MILLIS = 100;
    /** Handshake (HELLO to WELCOME) must finish within this time. */
    static final long HANDSHAKE_TIMEOUT_MILLIS = 10_000;
    /** How long a local connection waits for a session when none is established. */
    static final long PENDING_OPEN_TIMEOUT_MILLIS = 30_000;
    /** Most local connections waiting for a session at once. */
    static final int MAX_PENDING_OPENS = 256;

    private final Vertx vertx;
    private final EntryMetrics metrics;
    private final SecureRandom random = new SecureRandom();

    private volatile Context context;
    private EntrySettings settings;
    private WebSocketTransport transport;
    private Backoff backoff;
    private final Limits baseLimits = Limits.defaults();

    // Confined to the context.
    private Session session;
    private Link link;
    private boolean stopping;
    private boolean attempted;
    private long reconnectTimer = -1;
    private long pingTimer = -1;
    private long ackTimer = -1;
    private long watchdogTimer = -1;
    private volatile String sessionIdHex;
    private final Deque<PendingOpen> pending = new ArrayDeque<>();

    public SessionManager(Vertx vertx, EntryMetrics metrics) {
        this.vertx = vertx;
        this.metrics = metrics;
    }

    /** Starts connecting; returns at once. */
    public void start(EntrySettings settings) {
        this.settings = settings;
        this.transport = new WebSocketTransport(vertx, settings);
        this.backoff = new Backoff(settings.reconnectMin(), settings.reconnectMax(), () -> ThreadLocalRandom.current()
                .nextDouble());
        this.context = vertx.getOrCreateContext();
        context.runOnContext(v -> {
            pingTimer = vertx.setPeriodic(settings.pingInterval().toMillis(), id -> onContext(this::ping));
            ackTimer = vertx.setPeriodic(ACK_FLUSH_MILLIS, id -> onContext(this::flushAck));
            long watchdogMillis =
                    Math.max(100, Math.min(1000, settings.pingTimeout().toMillis() / 4));
            watchdogTimer = vertx.setPeriodic(watchdogMillis, id -> onContext(this::watchdog));
            connect();
        });
    }

    /** The session's context; local connections hop onto it to touch their streams. */
    public Context context() {
        return context;
    }

    /** Where the entry connects to, without credentials. */
    public String serverDisplay() {
        return settings.server().display()
                + settings.proxy()
                        .map(p -> " (through proxy " + p.display() + ")")
                        .orElse("");
    }

    /** The current session's id, or null. */
    public String sessionIdHex() {
        return sessionIdHex;
    }

    /**
     * Opens a stream for a local connection. When no session is established yet, waits (bounded in number and time)
     * for one. The endpoint's callbacks run on the session's context.
     */
    public void open(String host, int port, TunnelEndpoint endpoint) {
        onContext(() -> {
            if (stopping) {
                endpoint.onOpenFailed(ResetCode.SESSION_CLOSED, "entry node is shutting down");
            } else if (session != null && !session.isClosed()) {
                openNow(host, port, endpoint);
            } else if (pending.size() >= MAX_PENDING_OPENS) {
                endpoint.onOpenFailed(ResetCode.TOO_MANY_STREAMS, "too many connections waiting for a session");
            } else {
                PendingOpen p = new PendingOpen(host, port, endpoint);
                p.timer = vertx.setTimer(
                        PENDING_OPEN_TIMEOUT_MILLIS,
                        id -> onContext(() -> {
                            if (pending.remove(p)) {
                                endpoint.onOpenFailed(ResetCode.TIMEOUT, "no session with the exit node");
                            }
                        }));
                pending.add(p);
            }
        });
    }

    private void openNow(String host, int port, TunnelEndpoint endpoint) {
        try {
            Stream stream = session.open(host, port, endpoint);
            endpoint.onOpen(stream);
        } catch (ProtocolException e) {
            ResetCode code = e.code() == CloseCode.LIMIT_EXCEEDED ? ResetCode.TOO_MANY_STREAMS : ResetCode.INTERNAL;
            endpoint.onOpenFailed(code, e.getMessage());
        }
    }

    /** Closes the session (telling the exit node) and stops reconnecting; waits up to {@code timeoutMillis}. */
    public void stop(long timeoutMillis) {
        Context ctx = context;
        if (ctx == null) {
            return;
        }
        Promise<Void> done = Promise.promise();
        ctx.runOnContext(v -> {
            stopping = true;
            for (long t : new long[] {reconnectTimer, pingTimer, ackTimer, watchdogTimer}) {
                if (t >= 0) {
                    vertx.cancelTimer(t);
                }
            }
            while (!pending.isEmpty()) {
                PendingOpen p = pending.poll();
                vertx.cancelTimer(p.timer);
                p.endpoint.onOpenFailed(ResetCode.SESSION_CLOSED, "entry node is shutting down");
            }
            Session s = session;
            session = null;
            if (s != null && !s.isClosed()) {
                s.close(CloseCode.GOING_AWAY, "entry node shutting down");
            }
            Link l = link;
            link = null;
            metrics.connected(false);
            if (l != null) {
                l.closed = true;
                l.ws.close((short) 1000, "shutdown").onComplete(ar -> done.tryComplete());
            } else {
                done.tryComplete();
            }
        });
        try {
            done.future()
                    .eventually(() -> transport.close())
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            LOG.debugf("closing the connection to the exit node: %s", e.toString());
        }
    }

    // ---- connection lifecycle (on the context) ----

    private void connect() {
        if (stopping) {
            return;
        }
        if (attempted) {
            metrics.reconnect();
        }
        attempted = true;
        transport
                .connect()
                .onComplete(ar -> onContext(() -> {
                    if (stopping) {
                        if (ar.succeeded()) {
                            ar.result().close();
                        }
                        return;
                    }
                    if (ar.failed()) {
                        LOG.warnf("cannot connect to %s: %s", serverDisplay(), describe(ar.cause()));
                        scheduleReconnect();
                    } else {
                        startHandshake(ar.result());
                    }
                }));
    }

    private void startHandshake(WebSocket ws) {
        Link l = new Link(ws);
        link = l;
        ws.binaryMessageHandler(buf -> onContext(() -> l.onMessage(buf)));
        ws.textMessageHandler(text -> onContext(() -> linkFailed(l, "exit node sent a text message")));
        ws.exceptionHandler(t -> onContext(() -> linkFailed(l, describe(t))));
        ws.closeHandler(v -> onContext(() -> {
            Short status = ws.closeStatusCode();
            String reason = ws.closeReason();
            linkFailed(
                    l,
                    "closed by the exit node" + (status == null ? "" : " (" + status + ")")
                            + (reason == null || reason.isEmpty() ? "" : ": " + reason));
        }));
        boolean resume = session != null && !session.isClosed();
        l.intent = resume ? Frame.Intent.RESUME : Frame.Intent.NEW;
        l.handshake = new ClientHandshake(
                settings.tokenId(),
                resume ? session.sessionKey() : settings.token(),
                l.intent,
                resume ? session.id() : null,
                resume ? session.lastReceivedSeq() : 0,
                0,
                Clock.systemUTC(),
                random);
        l.handshakeTimer =
                vertx.setTimer(HANDSHAKE_TIMEOUT_MILLIS, id -> onContext(() -> linkFailed(l, "handshake timed out")));
        l.send(l.handshake.hello());
    }

    private void onHandshakeFrame(Link l, Frame frame) throws ProtocolException {
        if (frame instanceof Frame.Close close) {
            refused(l, close.code(), close.message());
            return;
        }
        if (l.phase == Phase.HELLO_SENT) {
            Frame.Proof proof = l.handshake.onChallenge(frame);
            l.phase = Phase.PROOF_SENT;
            l.send(proof);
            return;
        }
        HandshakeResult result = l.handshake.onWelcome(frame);
        vertx.cancelTimer(l.handshakeTimer);
        // Receive what the exit may send (its max payload); send at most what fits one 64 KiB WebSocket frame.
        l.codec = new FrameCodec(baseLimits.withMaxPayload(Math.max(baseLimits.maxPayload(), result.maxPayload())));
        Limits limits =
                baseLimits.withMaxPayload(Math.min(baseLimits.maxPayload(), WebSocketTransport.MAX_SEND_PAYLOAD));
        if (l.intent == Frame.Intent.RESUME) {
            try {
                session.attach(l, result.peerLastReceivedSeq());
            } catch (ProtocolException e) {
                LOG.warnf("session %s cannot be resumed (%s); starting a new one", session.idHex(), e.getMessage());
                abandonSession("session could not be resumed");
                l.closed = true;
                link = null;
                l.ws.close((short) 1000, "resume failed");
                reconnectNow();
                return;
            }
            l.phase = Phase.OPEN;
            LOG.infof("session resumed %s", session.idHex());
        } else {
            Session s = newSession(result, limits);
            session = s;
            sessionIdHex = s.idHex();
            s.attach(l, result.peerLastReceivedSeq());
            l.phase = Phase.OPEN;
            LOG.infof("session established %s transport=websocket", s.idHex());
        }
        backoff.reset();
        metrics.connected(true);
        while (!pending.isEmpty() && session != null) {
            PendingOpen p = pending.poll();
            vertx.cancelTimer(p.timer);
            openNow(p.host, p.port, p.endpoint);
        }
    }

    private Session newSession(HandshakeResult result, Limits limits) {
        Events events = new Events();
        events.session = new Session(Session.Role.CLIENT, result, limits, events, System::nanoTime);
        return events.session;
    }

    /** Events of one session; callbacks of a session that is no longer the current one are ignored. */
    private final class Events implements SessionListener {
        Session session;

        @Override
        public void onStreamOpened(Stream stream) {
            // Reverse streams (exit to entry) belong to the agent mode, not implemented here.
            stream.reset(ResetCode.NOT_ALLOWED, "this entry node does not accept streams from the exit node");
        }

        @Override
        public void onClosed(CloseCode code, String message) {
            onSessionClosed(session, code, message);
        }

        @Override
        public void onRtt(long rttNanos) {
            metrics.rtt(rttNanos);
        }
    }

    private void onSessionClosed(Session s, CloseCode code, String message) {
        if (s == null || s != session || stopping) {
            return;
        }
        LOG.warnf("session %s closed: %s %s; starting a new session", s.idHex(), code, message);
        session = null;
        sessionIdHex = null;
        metrics.connected(false);
        Link l = link;
        link = null;
        if (l != null) {
            l.closed = true;
            l.ws.close((short) 1000, "session closed");
        }
        scheduleReconnect();
    }

    private void refused(Link l, CloseCode code, String message) {
        vertx.cancelTimer(l.handshakeTimer);
        l.closed = true;
        if (link == l) {
            link = null;
        }
        l.ws.close((short) 1000, "refused");
        if (code == CloseCode.UNKNOWN_SESSION && l.intent == Frame.Intent.RESUME && session != null) {
            LOG.warnf(
                    "exit node no longer knows session %s (it restarted or the session expired); "
                            + "closing its streams and starting a new session",
                    session.idHex());
            abandonSession("session lost on the exit node");
            reconnectNow();
            return;
        }
        if (code == CloseCode.AUTH_FAILED) {
            LOG.errorf(
                    "handshake with the exit node failed: %s %s (check SPLITSTREAM_TOKEN and SPLITSTREAM_TOKEN_ID)",
                    code, message);
        } else {
            LOG.warnf("handshake with the exit node failed: %s %s", code, message);
        }
        scheduleReconnect();
    }

    /** Drops the current session: its streams are reset, so their local connections close. */
    private void abandonSession(String why) {
        Session s = session;
        session = null;
        sessionIdHex = null;
        metrics.connected(false);
        if (s != null && !s.isClosed()) {
            s.close(CloseCode.GOING_AWAY, why);
        }
    }

    private void linkFailed(Link l, String reason) {
        if (l.closed) {
            return;
        }
        l.closed = true;
        vertx.cancelTimer(l.handshakeTimer);
        if (link == l) {
            link = null;
        }
        if (l.phase == Phase.OPEN) {
            metrics.connected(false);
            if (session != null) {
                session.detach(l);
                LOG.warnf(
                        "connection to the exit node lost (%s); session %s waits for a reconnect",
                        reason, session.idHex());
            }
        } else {
            LOG.warnf("connection to the exit node failed during the handshake: %s", reason);
        }
        l.ws.close();
        scheduleReconnect();
    }

    private void scheduleReconnect() {
        if (stopping || reconnectTimer >= 0 || link != null) {
            return;
        }
        long delay = backoff.nextDelayMillis();
        LOG.debugf("reconnecting in %d ms", delay);
        reconnectTimer = vertx.setTimer(
                delay,
                id -> onContext(() -> {
                    reconnectTimer = -1;
                    connect();
                }));
    }

    private void reconnectNow() {
        if (stopping || reconnectTimer >= 0 || link != null) {
            return;
        }
        reconnectTimer = vertx.setTimer(
                1,
                id -> onContext(() -> {
                    reconnectTimer = -1;
                    connect();
                }));
    }

    private void ping() {
        if (link != null && link.phase == Phase.OPEN && session != null && session.isAttached()) {
            session.ping();
        }
    }

    private void flushAck() {
        if (link != null && link.phase == Phase.OPEN && session != null && session.isAttached()) {
            session.flushAck();
        }
    }

    private void watchdog() {
        Link l = link;
        if (l == null || l.phase != Phase.OPEN || session == null) {
            return;
        }
        long silentNanos = session.nanosSinceLastReceive();
        if (silentNanos > settings.pingTimeout().toNanos()) {
            linkFailed(l, "no frame for " + TimeUnit.NANOSECONDS.toSeconds(silentNanos) + "s");
        }
    }

    private void onContext(Runnable r) {
        Context current = Vertx.currentContext();
        if (current != null
                && (current == context || (current instanceof ContextInternal ci && ci.unwrap() == context))) {
            r.run();
        } else {
            context.runOnContext(v -> r.run());
        }
    }

    /** The exception's message and its root cause's (Vert.x wraps TLS failures: the cause says what failed). */
    static String describe(Throwable t) {
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        Throwable root = t;
        for (int depth = 0; root.getCause() != null && root.getCause() != root && depth < 10; depth++) {
            root = root.getCause();
        }
        if (root != t && root.getMessage() != null && !m.contains(root.getMessage())) {
            m = m + ": " + root.getMessage();
        }
        return m;
    }

    private enum Phase {
        HELLO_SENT,
        PROOF_SENT,
        OPEN
    }

    /** One WebSocket connection: the handshake on it, then the session's outbound path. */
    private final class Link implements FrameSink {
        final WebSocket ws;
        FrameCodec codec = new FrameCodec(baseLimits);
        ClientHandshake handshake;
        Frame.Intent intent;
        Phase phase = Phase.HELLO_SENT;
        long handshakeTimer = -1;
        boolean closed;

        Link(WebSocket ws) {
            this.ws = ws;
        }

        @Override
        public void send(Frame frame) {
            if (closed) {
                return;
            }
            ByteBuffer encoded = codec.encode(frame);
            ws.writeBinaryMessage(Buffer.buffer(Unpooled.wrappedBuffer(encoded)));
        }

        void onMessage(Buffer message) {
            if (closed) {
                return;
            }
            Frame frame;
            try {
                frame = codec.decodeMessage(message.getByteBuf().nioBuffer());
            } catch (ProtocolException e) {
                LOG.warnf("bad frame from the exit node: %s", e.getMessage());
                if (phase == Phase.OPEN && session != null) {
                    session.close(e.code(), e.getMessage());
                } else {
                    linkFailed(this, "bad frame: " + e.getMessage());
                }
                return;
            }
            try {
                if (phase == Phase.OPEN) {
                    session.receive(frame);
                } else {
                    onHandshakeFrame(this, frame);
                }
            } catch (ProtocolException e) {
                if (phase == Phase.OPEN) {
                    LOG.warnf("protocol error from the exit node: %s %s", e.code(), e.getMessage());
                    if (session != null && !session.isClosed()) {
                        session.close(e.code(), e.getMessage());
                    }
                } else {
                    refused(this, e.code(), e.getMessage());
                }
            }
        }
    }

    private static final class PendingOpen {
        final String host;
        final int port;
        final TunnelEndpoint endpoint;
        long timer;

        PendingOpen(String host, int port, TunnelEndpoint endpoint) {
            this.host = host;
            this.port = port;
            this.endpoint = endpoint;
        }
    }
}
