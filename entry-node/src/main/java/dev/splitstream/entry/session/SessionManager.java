package dev.splitstream.entry.session;

import dev.splitstream.bridge.StreamEndpoint;
import dev.splitstream.entry.agent.Agent;
import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.config.ServerEndpoint;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.transport.Transport;
import dev.splitstream.entry.transport.TransportMemory;
import dev.splitstream.entry.transport.http.HttpTransport;
import dev.splitstream.entry.transport.ws.TrustStores;
import dev.splitstream.entry.transport.ws.WebSocketTransport;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameSink;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.SecretFile;
import dev.splitstream.protocol.Session;
import dev.splitstream.protocol.SessionListener;
import dev.splitstream.protocol.Stream;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.impl.ContextInternal;
import io.vertx.core.net.TrustOptions;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
    /**
     * A connection counts as working (its slot's backoff starts from reconnect-min again) once it stayed open this long,
     * not when its handshake completed: a path that accepts handshakes but fails everything after them (a proxy
     * answering 500 to every upstream POST) must not be retried in a tight loop.
     */
    static final long STABLE_MILLIS = 10_000;
    /** How long a local connection waits for a session when none is established. */
    static final long PENDING_OPEN_TIMEOUT_MILLIS = 30_000;
    /** Most local connections waiting for a session at once. */
    static final int MAX_PENDING_OPENS = 256;
    /** How often the token file (SPLITSTREAM_TOKEN_FILE) is read for a new secret. */
    static final long TOKEN_FILE_POLL_MILLIS = 2_000;

    private final Vertx vertx;
    private final EntryMetrics metrics;
    private final SecureRandom random = new SecureRandom();

    private volatile Context context;
    private EntrySettings settings;
    // 1 MiB initial stream window, as on the exit node: 256 KiB per credit round trip capped one connection at
    // ~65 MiB/s on a loaded host, and the auto-tuner, which compares with the idle ping RTT, did not grow it.
    private final Limits baseLimits =
            Limits.defaults().withWindows(1024 * 1024, Limits.defaults().maxWindow());

    // Confined to the context.
    /** The single connection, or on a split path the upstream leg (the session's sink). */
    private Slot primary;
    /** On a split path the downstream leg, else null. */
    private Slot downstream;

    private Session session;
    private boolean stopping;
    private long pingTimer = -1;
    private long ackTimer = -1;
    private long watchdogTimer = -1;
    private long reprobeTimer = -1;
    private long tokenFileTimer = -1;
    /** The token secret for NEW handshakes: the configured one, or the token file's latest. */
    private volatile Secret token;

    private String tokenFileError;
    private TransportMemory memory;
    private volatile String sessionIdHex;
    private volatile String transportName;
    private String compressionNote = "";
    /** The last connection problem, for the status screen; confined to the context. */
    private String lastProblem;

    private final Deque<PendingOpen> pending = new ArrayDeque<>();

    /** Agent mode, or null. */
    private Agent agent;

    private BufferBudget budget;

    public SessionManager(Vertx vertx, EntryMetrics metrics) {
        this.vertx = vertx;
        this.metrics = metrics;
        metrics.watchCompression(() -> {
            Session s = session; // read by the scrape's thread: the reference may be a moment old, never torn
            return s != null && s.sendsDataPlain();
        });
    }

    /** The node's buffer budget (set by {@link #start}), shared by every local connection and exposed service. */
    public BufferBudget budget() {
        return budget;
    }

    /** Starts connecting; returns at once. */
    public void start(EntrySettings settings, BufferBudget budget) {
        this.settings = settings;
        this.budget = budget;
        metrics.watchBudget(budget);
        this.token = settings.token();
        this.memory = settings.transport() == EntrySettings.TransportMode.AUTO
                ? new TransportMemory(vertx, settings.stateFile())
                : null;
        this.primary = new Slot(settings.split() ? Role.UP : Role.SINGLE, settings.server());
        this.downstream = settings.downstream().map(d -> new Slot(Role.DOWN, d)).orElse(null);
        this.context = vertx.getOrCreateContext();
        this.agent = settings.agent()
                .map(a -> new Agent(
                        vertx,
                        a,
                        settings.server().host(),
                        a.connectTimeout(),
                        settings.caFile()
                                .map(ca -> TrustOptions.wrap(TrustStores.withExtraCa(ca)))
                                .orElse(null),
                        metrics,
                        budget))
                .orElse(null);
        context.runOnContext(v -> {
            pingTimer = vertx.setPeriodic(settings.pingInterval().toMillis(), id -> onContext(this::ping));
            ackTimer = vertx.setPeriodic(ACK_FLUSH_MILLIS, id -> onContext(this::flushAck));
            long watchdogMillis =
                    Math.max(100, Math.min(1000, settings.pingTimeout().toMillis() / 4));
            watchdogTimer = vertx.setPeriodic(watchdogMillis, id -> onContext(this::watchdog));
            if (memory != null) {
                reprobeTimer = vertx.setPeriodic(settings.reprobeInterval().toMillis(), id -> onContext(this::reprobe));
            }
            settings.tokenFile()
                    .ifPresent(file ->
                            tokenFileTimer = vertx.setPeriodic(TOKEN_FILE_POLL_MILLIS, id -> pollTokenFile(file)));
            connect(primary);
        });
    }

    /** The session's context; local connections hop onto it to touch their streams. */
    public Context context() {
        return context;
    }

    /** Where the entry connects to, without credentials. */
    public String serverDisplay() {
        String where = settings.split()
                ? settings.server().display() + " (upstream) + "
                        + settings.downstream().get().display() + " (downstream)"
                : settings.server().display();
        return where
                + settings.proxy()
                        .map(p -> " (through proxy " + p.display() + ")")
                        .orElse("");
    }

    /** The current session's id, or null. */
    public String sessionIdHex() {
        return sessionIdHex;
    }

    /** The transport of the current session ({@code websocket}, {@code websocket-split}), or null. */
    public String transportName() {
        return transportName;
    }

    /** What the session is doing now, for the terminal status screen. */
    public enum State {
        /** Before the first connection attempt completed. */
        CONNECTING,
        /** Every leg is open. */
        CONNECTED,
        /** The session exists but a leg is lost; reconnecting to resume it. */
        RESUMING,
        /** No session; waiting for the next attempt. */
        BACKOFF,
        /** Shutting down. */
        STOPPED
    }

    /**
     * A snapshot of the connection: state, the session id (or null), the transport and why it was chosen, when the
     * next attempt is due (epoch millis, 0 when none is scheduled), failed attempts since the last success and the last
     * problem (or null).
     */
    public record Status(
            State state,
            String sessionId,
            String transport,
            String reason,
            long nextAttemptAtMillis,
            int failedAttempts,
            String lastProblem,
            List<String> exposed) {}

    /** The current {@link Status}, taken on the session's context; completes within a context turn. */
    public Future<Status> status() {
        Context ctx = context;
        if (ctx == null) {
            return Future.succeededFuture(new Status(State.CONNECTING, null, null, null, 0, 0, null, List.of()));
        }
        Promise<Status> result = Promise.promise();
        onContext(() -> result.complete(snapshot()));
        return result.future();
    }

    private Status snapshot() {
        long next = 0;
        int failures = 0;
        boolean legsOpen = true;
        boolean linking = false;
        for (Slot slot : slots()) {
            if (slot.reconnectTimer >= 0) {
                next = next == 0 ? slot.reconnectAtMillis : Math.min(next, slot.reconnectAtMillis);
            }
            failures = Math.max(failures, slot.backoff.attempts());
            legsOpen &= slot.link != null && slot.link.phase == Phase.OPEN;
            linking |= slot.link != null;
        }
        boolean haveSession = session != null && !session.isClosed();
        State state;
        if (stopping) {
            state = State.STOPPED;
        } else if (haveSession) {
            state = legsOpen ? State.CONNECTED : State.RESUMING;
        } else if (next != 0 && !linking) {
            state = State.BACKOFF;
        } else {
            state = State.CONNECTING;
        }
        Slot shown = downstream == null ? primary : downstream;
        return new Status(
                state,
                haveSession ? session.idHex() : null,
                haveSession && legsOpen ? transportName : shown.kind.label,
                shown.reason,
                next,
                failures,
                lastProblem,
                agent == null ? List.of() : agent.describe());
    }

    /**
     * Opens a stream for a local connection. When no session is established yet, waits (bounded in number and time)
     * for one. The endpoint's callbacks run on the session's context.
     */
    public void open(String host, int port, StreamEndpoint endpoint) {
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

    private void openNow(String host, int port, StreamEndpoint endpoint) {
        try {
            Stream stream = session.open(host, port, endpoint);
            endpoint.onOpen(stream);
        } catch (ProtocolException e) {
            ResetCode code = e.code() == CloseCode.LIMIT_EXCEEDED ? ResetCode.TOO_MANY_STREAMS : ResetCode.INTERNAL;
            endpoint.onOpenFailed(code, e.getMessage());
        }
    }

    /** How long a stopping entry waits for its GOING_AWAY to leave before it closes its links anyway, ms. */
    static final long CLOSE_SEND_MILLIS = 1000;

    /** Closes the session (telling the exit node) and stops reconnecting; waits up to {@code timeoutMillis}. */
    public void stop(long timeoutMillis) {
        Context ctx = context;
        if (ctx == null) {
            return;
        }
        Promise<Void> done = Promise.promise();
        ctx.runOnContext(v -> {
            stopping = true;
            for (long t : new long[] {pingTimer, ackTimer, watchdogTimer, reprobeTimer, tokenFileTimer}) {
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
            boolean told = false;
            if (s != null && !s.isClosed()) {
                if (agent != null && agent.releaseOnExit() && s.sendControl(agent.release())) {
                    LOG.infof("agent %s released its public ports", agent.name());
                }
                s.close(CloseCode.GOING_AWAY, "entry node shutting down");
                told = true;
            }
            if (agent != null) {
                agent.close();
            }
            metrics.connected(false);
            // The close must leave before the links go: over plain HTTP it travels in the next upstream POST, and
            // closing the link at once dropped it (nginx logged 499), so the exit kept the session for its idle and
            // resume time (ReplicasE2E). A link with a close to deliver closes once it was sent, within stop's bound.
            List<Future<Void>> closing = new ArrayList<>();
            for (Slot slot : slots()) {
                slot.cancelReconnect();
                Link l = slot.link;
                slot.link = null;
                if (l != null) {
                    closing.add(told ? l.closeAfterSending("shutdown", CLOSE_SEND_MILLIS) : l.close("shutdown"));
                }
            }
            Future.join(closing).onComplete(ar -> done.tryComplete());
        });
        try {
            done.future()
                    .eventually(() -> Future.join(slots().stream()
                            .flatMap(slot -> slot.transports.values().stream())
                            .map(Transport::close)
                            .toList()))
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            LOG.debugf("closing the connection to the exit node: %s", e.toString());
        }
    }

    private List<Slot> slots() {
        return downstream == null ? List.of(primary) : List.of(primary, downstream);
    }

    // ---- connection lifecycle (on the context) ----

    private void connect(Slot slot) {
        if (stopping || slot.link != null) {
            return;
        }
        if (slot.role == Role.DOWN && (session == null || session.isClosed())) {
            return; // the downstream leg joins a session the upstream leg created
        }
        if (slot.attempted) {
            metrics.reconnect();
        }
        slot.attempted = true;
        Link l = new Link(slot);
        slot.link = l;
        l.kind = slot.kind;
        Transport transport = slot.transport();
        if (memory != null && slot.kind == Kind.WEBSOCKET) {
            l.probeTimer = vertx.setTimer(
                    settings.probeTimeout().toMillis(),
                    id -> onContext(() -> {
                        if (l.phase != Phase.OPEN) {
                            linkFailed(
                                    l,
                                    "websocket probe: no handshake within "
                                            + settings.probeTimeout().toMillis() + " ms");
                        }
                    }));
        }
        transport
                .connect(sessionIdHex, slot.direction(), l)
                .onComplete(ar -> onContext(() -> {
                    if (l.closed) {
                        if (ar.succeeded()) {
                            ar.result().close("not needed");
                        }
                        return;
                    }
                    if (ar.failed()) {
                        l.closed = true;
                        vertx.cancelTimer(l.probeTimer);
                        slot.link = null;
                        String why = describe(ar.cause());
                        lastProblem = "cannot connect (" + transport.name() + "): " + why;
                        if ("reprobe".equals(slot.reason)) {
                            LOG.infof(
                                    "reprobe: cannot connect to %s (%s): %s",
                                    transport.display(), transport.name(), why);
                        } else {
                            slot.failure(
                                    Logger.Level.WARN,
                                    "cannot connect",
                                    String.format(
                                            "cannot connect to %s (%s): %s",
                                            transport.display(), transport.name(), why));
                        }
                        transportFailed(slot, l, why);
                    } else {
                        l.conn = ar.result();
                        startHandshake(l);
                    }
                }));
    }

    /**
     * Reads the token file on a worker; a changed secret is used from the next NEW handshake on (resumes and joins
     * prove the session key, which a rotation does not change). A file that cannot be read keeps the secret in force.
     */
    private void pollTokenFile(java.nio.file.Path file) {
        vertx.executeBlocking(() -> SecretFile.read(file), false)
                .onComplete(ar -> onContext(() -> {
                    if (ar.failed()) {
                        String why = ar.cause().getMessage();
                        if (!why.equals(tokenFileError)) {
                            tokenFileError = why;
                            LOG.errorf("token file not reloaded, the current secret stays in force: %s", why);
                        }
                        return;
                    }
                    tokenFileError = null;
                    if (!ar.result().equals(token)) {
                        token = ar.result();
                        LOG.infof("token file %s changed: the next new session uses the new secret", file);
                    }
                }));
    }

    private void startHandshake(Link l) {
        boolean haveSession = session != null && !session.isClosed();
        l.intent = switch (l.slot.role) {
            case SINGLE -> haveSession ? Frame.Intent.RESUME : Frame.Intent.NEW;
            case UP -> haveSession ? Frame.Intent.JOIN_UPSTREAM : Frame.Intent.NEW;
            case DOWN -> Frame.Intent.JOIN_DOWNSTREAM;
        };
        int capabilities = (settings.deflate().isPresent() ? Capabilities.DEFLATE : 0)
                | (settings.encryption() ? Capabilities.ENCRYPTED : 0);
        if (l.slot.role == Role.UP) {
            capabilities |= Capabilities.SPLIT;
        }
        if (agent != null) {
            capabilities |= Capabilities.EXPOSE | Capabilities.ROUTE_LOG | Capabilities.ROUTE_LOG_BATCH;
        }
        boolean join = l.intent != Frame.Intent.NEW;
        l.handshake = new ClientHandshake(
                settings.tokenId(),
                join ? session.sessionKey() : token,
                l.intent,
                join ? session.id() : null,
                join ? session.lastReceivedSeq() : 0,
                capabilities,
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
        vertx.cancelTimer(l.probeTimer);
        // Receive what the exit may send (its max payload); send at most what fits one 64 KiB WebSocket frame.
        l.codec = FrameCodec.forSession(
                baseLimits.withMaxPayload(Math.max(baseLimits.maxPayload(), result.maxPayload())),
                result,
                settings.deflate().orElse(null));
        Limits limits =
                baseLimits.withMaxPayload(Math.min(baseLimits.maxPayload(), WebSocketTransport.MAX_SEND_PAYLOAD));
        String deflate = (result.capabilities() & Capabilities.DEFLATE) != 0 ? " compression=deflate" : "";
        switch (l.intent) {
            case NEW -> {
                if (l.slot.role == Role.UP && (result.capabilities() & Capabilities.SPLIT) == 0) {
                    LOG.errorf(
                            "the exit node at %s does not support split paths (%s/%s); upgrade it or set %s",
                            l.slot.endpoint.display(),
                            EntrySettings.UPSTREAM,
                            EntrySettings.DOWNSTREAM,
                            EntrySettings.SERVER);
                    l.closed = true;
                    l.slot.link = null;
                    l.conn.close("split not supported");
                    scheduleReconnect(l.slot);
                    return;
                }
                Session s = newSession(result, limits);
                session = s;
                sessionIdHex = s.idHex();
                s.attach(l, result.peerLastReceivedSeq());
                l.phase = Phase.OPEN;
                l.slot.established(l);
                compressionNote = deflate;
                if (downstream == null) {
                    LOG.infof(
                            "session established %s transport=%s reason=%s%s",
                            s.idHex(), updateTransportName(), l.slot.reason, deflate);
                } else {
                    downstream.cancelReconnect();
                    connect(downstream);
                }
            }
            case RESUME, JOIN_UPSTREAM -> {
                try {
                    session.attach(l, result.peerLastReceivedSeq());
                } catch (ProtocolException e) {
                    LOG.warnf("session %s cannot be resumed (%s); starting a new one", session.idHex(), e.getMessage());
                    abandonSession("session could not be resumed");
                    reconnectNow(primary);
                    return;
                }
                l.phase = Phase.OPEN;
                l.slot.established(l);
                LOG.infof(
                        "session resumed %s%s transport=%s",
                        session.idHex(),
                        l.intent == Frame.Intent.JOIN_UPSTREAM ? " (upstream leg)" : "",
                        updateTransportName());
            }
            case JOIN_DOWNSTREAM -> {
                l.phase = Phase.OPEN;
                l.slot.established(l);
                if (l.slot.joinedBefore) {
                    LOG.infof(
                            "session resumed %s (downstream leg) transport=%s", session.idHex(), updateTransportName());
                } else {
                    LOG.infof(
                            "session established %s transport=%s reason=%s%s",
                            session.idHex(), updateTransportName(), l.slot.reason, compressionNote);
                }
                l.slot.joinedBefore = true;
            }
        }
        l.slot.opened(l);
        updateConnected();
        announce(result);
        while (!pending.isEmpty() && session != null) {
            PendingOpen p = pending.poll();
            vertx.cancelTimer(p.timer);
            openNow(p.host, p.port, p.endpoint);
        }
    }

    /** Agent mode: after every handshake the agent tells the exit what it exposes (the exit answers each time). */
    private void announce(HandshakeResult result) {
        if (agent == null || session == null || session.isClosed()) {
            return;
        }
        if ((result.capabilities() & Capabilities.EXPOSE) == 0) {
            LOG.errorf(
                    "the exit node at %s does not support expose; upgrade it to expose %s",
                    settings.server().display(), EntrySettings.EXPOSE);
            return;
        }
        session.sendControl(agent.announcement());
    }

    /** The transport of the session as a whole, for logs, the metric and health. */
    private String updateTransportName() {
        String name;
        if (downstream == null) {
            name = primary.kind.label;
        } else if (primary.kind == Kind.WEBSOCKET && downstream.kind == Kind.WEBSOCKET) {
            name = "websocket-split";
        } else {
            name = downstream.kind.label;
        }
        transportName = name;
        metrics.transport(name);
        return name;
    }

    /**
     * A connection failed before its handshake completed for a reason of the transport (not a refusal). With
     * transport=auto the next attempt uses the next transport: WebSocket, then HTTP (as remembered, else streaming),
     * then WebSocket again after the backoff.
     */
    private void transportFailed(Slot slot, Link l, String why) {
        if (memory != null && !stopping) {
            if (l.kind == Kind.WEBSOCKET) {
                slot.kind = slot.rememberedHttp;
                slot.reason = "websocket failed: " + why;
                slot.failure(
                        Logger.Level.INFO,
                        "websocket failed",
                        String.format(
                                "%s: websocket failed (%s); trying %s", slot.endpoint.display(), why, slot.kind.label));
                reconnectNow(slot);
                return;
            }
            slot.kind = Kind.WEBSOCKET;
            slot.reason = "probe";
        }
        scheduleReconnect(slot);
    }

    /** With transport=auto: legs on HTTP try the WebSocket again; the session moves over (or stays on HTTP). */
    private void reprobe() {
        if (session == null || stopping) {
            return;
        }
        for (Slot slot : slots()) {
            Link l = slot.link;
            if (slot.kind != Kind.WEBSOCKET && l != null && l.phase == Phase.OPEN) {
                LOG.infof("%s: trying the websocket again (reprobe)", slot.endpoint.display());
                l.closed = true;
                slot.link = null;
                if (slot.role != Role.DOWN) {
                    session.detach(l);
                }
                l.conn.close("reprobe");
                slot.kind = Kind.WEBSOCKET;
                slot.reason = "reprobe";
                connect(slot);
            }
        }
    }

    /** An HTTP downstream path turned out to buffer: the leg now polls. */
    private void modeChanged(Link l, String why) {
        if (l.closed) {
            return;
        }
        Kind kind = Kind.HTTP_POLL;
        l.slot.kind = kind;
        l.kind = kind;
        l.slot.rememberedHttp = kind;
        l.slot.reason = why;
        if (memory != null) {
            memory.remember(l.slot.endpoint.display(), kind.label);
        }
        if (session != null) {
            LOG.infof("session %s transport=%s reason=%s", session.idHex(), updateTransportName(), why);
        }
    }

    private void updateConnected() {
        boolean up = session != null && !session.isClosed();
        for (Slot slot : slots()) {
            up &= slot.link != null && slot.link.phase == Phase.OPEN;
        }
        metrics.connected(up);
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
            if (agent == null) {
                stream.reset(ResetCode.NOT_ALLOWED, "this entry node exposes nothing (it is not an agent)");
            } else {
                agent.onStreamOpened(stream);
            }
        }

        @Override
        public void onExposeResult(Frame.ExposeResult result) {
            if (agent != null && session == SessionManager.this.session) {
                agent.onResult(result);
            }
        }

        @Override
        public void onRouteLog(Frame.RouteLog report) {
            if (agent != null && session == SessionManager.this.session) {
                agent.onRouteLog(report);
            }
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
        lastProblem = "session closed: " + code + " " + message;
        abandonSession("session closed");
        scheduleReconnect(primary);
    }

    private void refused(Link l, CloseCode code, String message) {
        lastProblem = "refused: " + code + " " + message;
        vertx.cancelTimer(l.handshakeTimer);
        vertx.cancelTimer(l.probeTimer);
        l.closed = true;
        if (l.slot.link == l) {
            l.slot.link = null;
        }
        l.conn.close("refused");
        if (code == CloseCode.UNKNOWN_SESSION && l.intent != Frame.Intent.NEW && session != null) {
            LOG.warnf(
                    "exit node no longer knows session %s (it restarted or the session expired); "
                            + "closing its streams and starting a new session",
                    session.idHex());
            abandonSession("session lost on the exit node");
            reconnectNow(primary);
            return;
        }
        if (code == CloseCode.AUTH_FAILED) {
            l.slot.failure(
                    Logger.Level.ERROR,
                    "refused " + code,
                    String.format(
                            "handshake with the exit node failed: %s %s (check SPLITSTREAM_TOKEN and SPLITSTREAM_TOKEN_ID)",
                            code, message));
        } else if (code == CloseCode.ENCRYPTION_MISMATCH || code == CloseCode.VERSION_MISMATCH) {
            l.slot.failure(
                    Logger.Level.ERROR,
                    "refused " + code,
                    String.format("handshake with the exit node failed: %s %s", code, message));
        } else {
            l.slot.failure(
                    Logger.Level.WARN,
                    "refused " + code,
                    String.format("handshake with the exit node failed: %s %s", code, message));
        }
        scheduleReconnect(l.slot);
    }

    /**
     * Drops the current session: its streams are reset, so their local connections close; every leg closes, so the
     * next connection starts a new session.
     */
    private void abandonSession(String why) {
        Session s = session;
        session = null;
        sessionIdHex = null;
        transportName = null;
        metrics.connected(false);
        metrics.transport(null);
        if (s != null && !s.isClosed()) {
            s.close(CloseCode.GOING_AWAY, why);
        }
        for (Slot slot : slots()) {
            slot.cancelReconnect();
            slot.joinedBefore = false;
            Link l = slot.link;
            slot.link = null;
            if (l != null) {
                vertx.cancelTimer(l.handshakeTimer);
                l.close(why);
            }
        }
    }

    private void linkFailed(Link l, String reason) {
        if (l.closed) {
            return;
        }
        l.closed = true;
        vertx.cancelTimer(l.handshakeTimer);
        vertx.cancelTimer(l.probeTimer);
        vertx.cancelTimer(l.stableTimer);
        if (l.slot.link == l) {
            l.slot.link = null;
        }
        String leg =
                l.slot.role == Role.SINGLE ? "connection" : l.slot.role == Role.UP ? "upstream leg" : "downstream leg";
        lastProblem = leg + (l.phase == Phase.OPEN ? " lost: " : " failed: ") + reason;
        if (l.phase == Phase.OPEN) {
            metrics.connected(false);
            if (session != null) {
                session.detach(l);
                l.slot.failure(
                        Logger.Level.WARN,
                        "lost " + reason,
                        String.format(
                                "%s to the exit node lost (%s); session %s waits for a reconnect",
                                leg, reason, session.idHex()));
            }
        } else {
            l.slot.failure(
                    Logger.Level.WARN,
                    "handshake " + reason,
                    String.format("%s to the exit node failed during the handshake: %s", leg, reason));
        }
        if (l.conn != null) {
            l.conn.close(reason);
        }
        if (l.phase != Phase.OPEN) {
            transportFailed(l.slot, l, reason);
        } else {
            scheduleReconnect(l.slot);
        }
    }

    private void scheduleReconnect(Slot slot) {
        if (stopping || slot.reconnectTimer >= 0 || slot.link != null) {
            return;
        }
        long delay = slot.backoff.nextDelayMillis();
        LOG.debugf("reconnecting %s in %d ms (attempt %d)", slot.role, delay, slot.backoff.attempts());
        slot.reconnectAtMillis = System.currentTimeMillis() + delay;
        slot.reconnectTimer = vertx.setTimer(
                delay,
                id -> onContext(() -> {
                    slot.reconnectTimer = -1;
                    connect(slot);
                }));
    }

    private void reconnectNow(Slot slot) {
        if (stopping || slot.reconnectTimer >= 0 || slot.link != null) {
            return;
        }
        slot.reconnectAtMillis = System.currentTimeMillis();
        slot.reconnectTimer = vertx.setTimer(
                1,
                id -> onContext(() -> {
                    slot.reconnectTimer = -1;
                    connect(slot);
                }));
    }

    private void ping() {
        if (session != null && session.isAttached()) {
            session.ping();
        }
    }

    private void flushAck() {
        if (session != null && session.isAttached()) {
            session.flushAck();
            if (session.isOutboundFull() && primary.link != null) {
                primary.link.drained();
            }
        }
    }

    private void watchdog() {
        if (session == null) {
            return;
        }
        // The leg that receives (the single connection, or the downstream leg) must hear from the exit node.
        Slot receiving = downstream == null ? primary : downstream;
        Link l = receiving.link;
        if (l == null || l.phase != Phase.OPEN) {
            return;
        }
        long silentNanos = session.nanosSinceLastReceive();
        if (silentNanos > settings.pingTimeout().toNanos()) {
            String why = "no frame for " + TimeUnit.NANOSECONDS.toSeconds(silentNanos) + "s";
            linkFailed(l, why);
            // Pongs answer pings sent upstream: silence may as well mean a dead upstream leg.
            if (downstream != null && primary.link != null && primary.link.phase == Phase.OPEN) {
                linkFailed(primary.link, why);
            }
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

    static String describe(Throwable t) {
        return WebSocketTransport.describe(t);
    }

    /** The transports, in the order transport=auto tries them. */
    private enum Kind {
        WEBSOCKET("websocket"),
        HTTP_STREAM("http-stream"),
        HTTP_POLL("http-poll");

        final String label;

        Kind(String label) {
            this.label = label;
        }

        static Optional<Kind> of(String label) {
            for (Kind k : values()) {
                if (k.label.equals(label)) {
                    return Optional.of(k);
                }
            }
            return Optional.empty();
        }
    }

    private enum Role {
        /** One connection carries both directions. */
        SINGLE,
        /** Split path: client-to-server frames; the session's sink. */
        UP,
        /** Split path: server-to-client frames. */
        DOWN
    }

    /** One place a connection goes: the single connection or one leg, with its own reconnect backoff. */
    private final class Slot {
        final Role role;
        final ServerEndpoint endpoint;
        final Map<Kind, Transport> transports = new EnumMap<>(Kind.class);
        final Backoff backoff;
        Link link;
        long reconnectTimer = -1;
        /** When {@link #reconnectTimer} fires, epoch millis. */
        long reconnectAtMillis;

        boolean attempted;
        boolean joinedBefore;
        /** The transport of the next attempt. */
        Kind kind;
        /** The HTTP mode to use when the WebSocket fails. */
        Kind rememberedHttp = Kind.HTTP_STREAM;
        /** Why {@link #kind} was chosen, for the log. */
        String reason;

        Slot(Role role, ServerEndpoint endpoint) {
            this.role = role;
            this.endpoint = endpoint;
            switch (settings.transport()) {
                case WEBSOCKET -> {
                    kind = Kind.WEBSOCKET;
                    reason = "configured";
                }
                case HTTP -> {
                    kind = Kind.HTTP_STREAM;
                    reason = "configured";
                }
                case AUTO -> {
                    Optional<Kind> remembered =
                            memory.recall(endpoint.display()).flatMap(Kind::of);
                    kind = remembered.orElse(Kind.WEBSOCKET);
                    reason = remembered.isPresent() ? "remembered" : "probe";
                    if (kind != Kind.WEBSOCKET) {
                        rememberedHttp = kind;
                    }
                }
            }
            this.backoff =
                    new Backoff(settings.reconnectMin(), settings.reconnectMax(), () -> ThreadLocalRandom.current()
                            .nextDouble());
        }

        Transport transport() {
            return transports.computeIfAbsent(kind, k -> switch (k) {
                case WEBSOCKET -> new WebSocketTransport(vertx, settings, endpoint);
                case HTTP_STREAM -> new HttpTransport(vertx, settings, endpoint, false);
                case HTTP_POLL -> new HttpTransport(vertx, settings, endpoint, true);
            });
        }

        Transport.Direction direction() {
            return switch (role) {
                case SINGLE -> Transport.Direction.BOTH;
                case UP -> Transport.Direction.UP;
                case DOWN -> Transport.Direction.DOWN;
            };
        }

        /** Failures since the last stable connection, and the kind of the last one logged above DEBUG. */
        int failures;

        String lastFailure;

        /**
         * Logs a failed attempt once per change of state: the first failure of a kind at {@code level}, repeats of it
         * at DEBUG (the backoff keeps their rate bounded) until a connection is stable again.
         */
        void failure(Logger.Level level, String kind, String message) {
            failures++;
            // Digits vary between repeats of one failure (counts, ports, timings): they do not make a new state.
            String key = kind.replaceAll("\\d+", "#");
            if (key.equals(lastFailure)) {
                LOG.debugf("%s (failure %d in a row)", message, failures);
                return;
            }
            lastFailure = key;
            LOG.log(level, failures == 1 ? message : message + " (failure " + failures + " in a row)");
        }

        /**
         * A handshake on {@code l} completed; the backoff starts over only once the connection stayed open for {@link
         * #STABLE_MILLIS}.
         */
        void opened(Link l) {
            vertx.cancelTimer(l.stableTimer);
            l.stableTimer = vertx.setTimer(
                    STABLE_MILLIS,
                    id -> onContext(() -> {
                        if (l.closed || link != l || l.phase != Phase.OPEN) {
                            return;
                        }
                        backoff.reset();
                        if (failures > 1) {
                            LOG.infof(
                                    "%s: connection to the exit node stable again after %d failed attempts",
                                    endpoint.display(), failures);
                        }
                        failures = 0;
                        lastFailure = null;
                    }));
        }

        /** A handshake on {@code l} completed: remember what worked. */
        void established(Link l) {
            if (l.kind != Kind.WEBSOCKET) {
                rememberedHttp = l.kind;
            }
            if (memory != null) {
                memory.remember(endpoint.display(), l.kind.label);
            }
        }

        void cancelReconnect() {
            if (reconnectTimer >= 0) {
                vertx.cancelTimer(reconnectTimer);
                reconnectTimer = -1;
            }
        }
    }

    private enum Phase {
        HELLO_SENT,
        PROOF_SENT,
        OPEN
    }

    /** One connection: the handshake on it, then (unless it is a downstream leg) the session's outbound path. */
    private final class Link implements FrameSink, Transport.Handler {
        final Slot slot;
        Transport.Connection conn;
        FrameCodec codec = new FrameCodec(baseLimits);
        ClientHandshake handshake;
        Frame.Intent intent;
        Phase phase = Phase.HELLO_SENT;
        long handshakeTimer = -1;
        long probeTimer = -1;
        long stableTimer = -1;
        Kind kind;
        boolean closed;
        /** This link told the session its transport is full; drain events (from any thread) matter only then. */
        volatile boolean full;

        Link(Slot slot) {
            this.slot = slot;
        }

        Future<Void> close(String reason) {
            closed = true;
            return conn == null ? Future.succeededFuture() : conn.close(reason);
        }

        Future<Void> closeAfterSending(String reason, long maxMillis) {
            closed = true;
            return conn == null ? Future.succeededFuture() : conn.closeAfterSending(reason, maxMillis);
        }

        @Override
        public long deflatedPayloadBytes() {
            return codec.deflatedPayloadBytes();
        }

        @Override
        public void send(Frame frame) {
            if (closed || conn == null) {
                return;
            }
            conn.send(frame, codec);
            // A full transport stops the session's streams (their sockets pause) until it drains, as a full socket
            // pauses the stream that writes to it; else the transport's queue grows to the resend buffer's limit.
            if (session != null && conn.writeQueueFull()) {
                full = true;
                session.outboundFull(this);
            }
        }

        @Override
        public void onDrained() {
            // Only after this link said it was full: a bulk transfer's WebSocket turns unwritable and writable again
            // around every flush. Always a task of its own: an HTTP leg reports its drain from inside a send, and
            // waking streams there would re-enter the session in the middle of the frame it is sending.
            if (full) {
                context.runOnContext(v -> drained());
            }
        }

        /** Streams go on once the transport took its queue down (also checked on the ACK timer: a missed drain). */
        void drained() {
            if (closed || conn == null || session == null || conn.writeQueueFull()) {
                return;
            }
            full = false;
            if (session.isOutboundFull()) {
                session.outboundDrained(this);
            }
        }

        @Override
        public void onFailed(String reason) {
            onContext(() -> linkFailed(this, reason));
        }

        @Override
        public String sessionIdHex() {
            return sessionIdHex;
        }

        @Override
        public long lastReceivedSeq() {
            return session == null ? 0 : session.lastReceivedSeq();
        }

        @Override
        public void onUpstreamLost(long peerLastReceivedSeq) {
            onContext(() -> {
                if (closed || session == null || phase != Phase.OPEN) {
                    return;
                }
                try {
                    session.attach(this, peerLastReceivedSeq);
                } catch (ProtocolException e) {
                    LOG.warnf(
                            "session %s cannot resend after a failed upstream request: %s",
                            session.idHex(), e.getMessage());
                    linkFailed(this, e.getMessage());
                }
            });
        }

        @Override
        public void onModeChanged(String name, String why) {
            onContext(() -> modeChanged(this, why));
        }

        @Override
        public void onFrame(ByteBuffer message) {
            onContext(() -> onMessage(message));
        }

        private void onMessage(ByteBuffer message) {
            if (closed) {
                return;
            }
            Frame frame;
            try {
                frame = codec.decodeMessage(message);
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
        final StreamEndpoint endpoint;
        long timer;

        PendingOpen(String host, int port, StreamEndpoint endpoint) {
            this.host = host;
            this.port = port;
            this.endpoint = endpoint;
        }
    }
}
