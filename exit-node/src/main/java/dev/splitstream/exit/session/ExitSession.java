package dev.splitstream.exit.session;

import dev.splitstream.bridge.DialException;
import dev.splitstream.bridge.Dialer;
import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.bridge.StreamEndpoint;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.token.TokenPolicy;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.RateLimitedLog;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.Session;
import dev.splitstream.protocol.SessionListener;
import dev.splitstream.protocol.Stream;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.util.Optional;
import java.util.function.LongFunction;
import org.jboss.logging.Logger;

/**
 * A protocol {@link Session} on the exit node with everything around it: the Vert.x context it is confined to, the
 * attached leg, the ack/idle/ping timer, the resume deadline, and the dialing of targets for the streams the entry node
 * opens. Every method touching the session runs on {@link #context}; {@link #execute} hops there from anywhere.
 */
public final class ExitSession implements SessionListener {
    private static final Logger LOG = Logger.getLogger(ExitSession.class);
    /** A session may open streams to refused targets as fast as it likes: a few lines per reason per interval. */
    private static final RateLimitedLog STREAM_REFUSALS = RateLimitedLog.of(LOG::info);

    private final Vertx vertx;
    private final Context context;
    private final Thread loop;
    private final ExitSettings settings;
    private final TokenRegistry tokens;
    private final Dialer dialer;
    private final ExitMetrics metrics;
    private final SessionRegistry registry;
    private final ExposeService expose;
    private final BufferBudget budget;
    private final String tokenId;
    private final String idHex;
    private final Secret sessionKey;
    private final Session session;
    /** Leg whose frames reach the session (the client's direction). */
    private Leg inbound;
    /** Leg the session's frames go to (attached as its sink). */
    private Leg outbound;

    /** {@link #detachedSince()} of a session with a leg. */
    static final long ATTACHED = Long.MIN_VALUE;

    /** System.nanoTime() when the session lost its last leg, or {@link #ATTACHED}; read by the registry's admission. */
    private volatile long detachedSince = ATTACHED;

    private long tickTimer = -1;
    private long resumeTimer = -1;
    private long lastPingNanos = System.nanoTime();
    private boolean closed;
    /** False until both directions had a leg (a split path's downstream leg joins after the session opened). */
    private boolean everComplete;
    /** The agent this session serves (set by {@link ExposeService}), or null. */
    private volatile String agent;
    /** The last answer to the agent's EXPOSE: sent again whenever a new outbound leg attaches. */
    private Frame.ExposeResult exposeResult;
    /**
     * The answer found no outbound path (an HTTP leg between two downstream requests, or before its first): it is not
     * numbered, so no resend brings it; the next downstream request of the leg carries it.
     */
    private boolean exposeResultUnsent;

    /** Route reports the agent may get now: a token bucket, refilled at {@link #REPORTS_PER_SECOND} (or batched). */
    private final ReportRate reportRate;
    /** Route requests not reported since the last report; the next one carries the count. */
    private final java.util.concurrent.atomic.AtomicLong reportsSkipped = new java.util.concurrent.atomic.AtomicLong();
    /** The agent asked for route reports (an older agent did not). */
    private final boolean reportsAgreed;
    /** Most ROUTE_LOG frames a second per session, so a busy route never floods an agent or its log. */
    static final int REPORTS_PER_SECOND = 100;
    /**
     * Most reports a second per session to an agent that takes them batched (ROUTE_LOG_BATCH): a ROUTE_LOGS frame of
     * up to 64 costs about what one ROUTE_LOG did, so the bound covers a busy route (bench/routes.sh) while an agent's
     * log still cannot be flooded beyond it.
     */
    static final int BATCHED_REPORTS_PER_SECOND = 20_000;
    /** A report waits at most this long for others to share its ROUTE_LOGS frame. */
    static final long REPORT_BATCH_MILLIS = 25;

    /** The agent takes ROUTE_LOGS (ROUTE_LOG_BATCH agreed). */
    private final boolean reportsBatched;
    /** Reports waiting for their ROUTE_LOGS frame (at most MAX_REPORTS, and what fits in half a payload); guarded by itself. */
    private final java.util.ArrayList<Frame.RouteLog> reportBatch = new java.util.ArrayList<>();
    /** Body bytes of {@link #reportBatch}; guarded by it. */
    private int reportBatchBytes;
    /** A send of {@link #reportBatch} is scheduled; guarded by it. */
    private boolean reportBatchQueued;

    private final int reportBatchMaxBytes;

    private final java.time.Instant since = java.time.Instant.now();
    private long rttNanos = -1;

    ExitSession(
            Vertx vertx,
            HandshakeResult established,
            Limits limits,
            ExitSettings settings,
            TokenRegistry tokens,
            Dialer dialer,
            ExitMetrics metrics,
            SessionRegistry registry,
            ExposeService expose,
            BufferBudget budget) {
        this.vertx = vertx;
        this.budget = budget;
        this.context = vertx.getOrCreateContext();
        this.loop = Thread.currentThread();
        this.settings = settings;
        this.tokens = tokens;
        this.dialer = dialer;
        this.metrics = metrics;
        this.registry = registry;
        this.expose = expose;
        this.tokenId = established.tokenId();
        this.reportsAgreed = (established.capabilities() & dev.splitstream.protocol.Capabilities.ROUTE_LOG) != 0;
        this.reportsBatched = reportsAgreed
                && (established.capabilities() & dev.splitstream.protocol.Capabilities.ROUTE_LOG_BATCH) != 0;
        int perSecond = reportsBatched ? BATCHED_REPORTS_PER_SECOND : REPORTS_PER_SECOND;
        this.reportRate = new ReportRate(perSecond, perSecond);
        this.reportBatchMaxBytes = limits.maxPayload() / 2;
        this.session = new Session(Session.Role.SERVER, established, limits, this, System::nanoTime);
        this.idHex = session.idHex();
        this.sessionKey = session.sessionKey();
    }

    /** Session id, 32 hex digits. */
    public String idHex() {
        return idHex;
    }

    /** Token the session was opened with. */
    public String tokenId() {
        return tokenId;
    }

    /** When the session lost its last leg (System.nanoTime()), or {@link #ATTACHED}. Any thread. */
    long detachedSince() {
        return detachedSince;
    }

    /** True while the session has no leg (its client may resume it, here or relayed). Any thread. */
    public boolean isDetached() {
        return detachedSince != ATTACHED;
    }

    /** Key that RESUME and JOIN handshakes prove; immutable, readable from any thread. */
    public Secret sessionKey() {
        return sessionKey;
    }

    /** A snapshot for the dashboard, taken on the session's context. */
    public io.vertx.core.Future<SessionView> view() {
        io.vertx.core.Promise<SessionView> result = io.vertx.core.Promise.promise();
        execute(() -> {
            var stats = session.stats();
            Leg in = inbound;
            Leg out = outbound;
            String transport;
            if (in == null && out == null) {
                transport = "-";
            } else if (in != null && out != null && in != out) {
                transport = in.transportName() + "-split";
            } else {
                transport = (in != null ? in : out).transportName();
            }
            Leg shown = in != null ? in : out;
            result.complete(new SessionView(
                    idHex,
                    tokenId,
                    agent,
                    transport,
                    shown == null ? null : shown.remoteAddress(),
                    since,
                    rttNanos,
                    stats.bytesReceived(),
                    stats.bytesSent(),
                    closed ? 0 : session.streamCount(),
                    in != null && out != null && !closed));
        });
        return result.future();
    }

    /** The agent this session serves, or null. Any thread. */
    public String agent() {
        return agent;
    }

    /** Marks this session as the one serving {@code name} (null: none). Called by {@link ExposeService}. */
    public void servesAgent(String name) {
        this.agent = name;
    }

    /**
     * Opens a stream to the agent's service {@code service} (an OPEN with the service name as host and port 0). On the
     * session's context. False when the session has no leg both ways (the agent is reconnecting) or ended: nothing
     * was called on the endpoint and the caller should wait for the agent.
     */
    public boolean openStream(String service, StreamEndpoint endpoint) {
        if (!carriesStreams()) {
            return false;
        }
        try {
            Stream s = session.open(service, 0, endpoint);
            endpoint.onOpen(s);
        } catch (ProtocolException e) {
            endpoint.onOpenFailed(
                    e.code() == CloseCode.LIMIT_EXCEEDED ? ResetCode.TOO_MANY_STREAMS : ResetCode.INTERNAL,
                    e.getMessage());
        }
        return true;
    }

    /**
     * Reports a finished route request to the agent (ROUTE_LOG). Dropped and counted, never queued, when the agent did
     * not ask for reports, the rate bound is spent, or the session's outbound path is away or busy: the data path
     * always comes first. The next report carries the number left out. Any thread; never blocks.
     */
    public void reportRequest(Frame.RouteLog report) {
        if (!reportsAgreed) {
            metrics.routeReport("not_agreed");
            return;
        }
        if (!reportRate.take(System.nanoTime())) {
            reportsSkipped.incrementAndGet();
            metrics.routeReport("rate");
            return;
        }
        if (reportsBatched) {
            batchReport(report);
            return;
        }
        execute(() -> {
            long skipped = reportsSkipped.getAndSet(0);
            Frame.RouteLog r = skipped == 0
                    ? report
                    : new Frame.RouteLog(
                            report.service(),
                            report.via(),
                            report.method(),
                            report.path(),
                            report.status(),
                            report.latencyMicros(),
                            report.bytesIn(),
                            report.bytesOut(),
                            Math.min(skipped, Frame.RouteLog.MAX_SKIPPED));
            Session.Offer offer = closed ? Session.Offer.AWAY : session.offerRouteLog(r);
            if (offer != Session.Offer.SENT) {
                reportsSkipped.addAndGet(skipped + 1);
            }
            metrics.routeReport(offer.name().toLowerCase(java.util.Locale.ROOT));
        });
    }

    /**
     * Adds {@code report} to the batch that goes out as one ROUTE_LOGS frame when it is full or
     * {@value #REPORT_BATCH_MILLIS} ms after its first report. Any thread: the batch is guarded by itself, and only its
     * first report (or the one that fills it) hops to the session's thread. A report that finds the batch full (its send
     * not run yet) is counted as skipped, so the batch stays bounded.
     */
    private void batchReport(Frame.RouteLog report) {
        boolean schedule;
        boolean full;
        synchronized (reportBatch) {
            int bytes = FrameCodec.bodyLength(report);
            if (reportBatch.size() >= Frame.RouteLogs.MAX_REPORTS || reportBatchBytes + bytes > reportBatchMaxBytes) {
                reportsSkipped.incrementAndGet();
                metrics.routeReport("busy");
                return;
            }
            long skipped = reportsSkipped.getAndSet(0);
            reportBatch.add(skipped == 0 ? report : withSkipped(report, skipped));
            reportBatchBytes += bytes;
            schedule = !reportBatchQueued;
            reportBatchQueued = true;
            full = reportBatch.size() >= Frame.RouteLogs.MAX_REPORTS || reportBatchBytes + bytes > reportBatchMaxBytes;
        }
        if (full) {
            execute(this::sendReportBatch);
        } else if (schedule) {
            execute(() -> vertx.setTimer(REPORT_BATCH_MILLIS, id -> sendReportBatch()));
        }
    }

    private static Frame.RouteLog withSkipped(Frame.RouteLog r, long skipped) {
        return new Frame.RouteLog(
                r.service(),
                r.via(),
                r.method(),
                r.path(),
                r.status(),
                r.latencyMicros(),
                r.bytesIn(),
                r.bytesOut(),
                Math.min(skipped, Frame.RouteLog.MAX_SKIPPED));
    }

    /** Sends the waiting reports as one ROUTE_LOGS (session thread); those it cannot send are counted as skipped. */
    private void sendReportBatch() {
        java.util.List<Frame.RouteLog> reports;
        synchronized (reportBatch) {
            reportBatchQueued = false;
            if (reportBatch.isEmpty()) {
                return;
            }
            reports = new java.util.ArrayList<>(reportBatch);
            reportBatch.clear();
            reportBatchBytes = 0;
        }
        Session.Offer offer = closed ? Session.Offer.AWAY : session.offerRouteLogs(new Frame.RouteLogs(reports));
        if (offer != Session.Offer.SENT) {
            long lost = 0;
            for (Frame.RouteLog r : reports) {
                lost += r.skipped() + 1;
            }
            reportsSkipped.addAndGet(lost);
        }
        metrics.routeReports(offer.name().toLowerCase(java.util.Locale.ROOT), reports.size());
    }

    /** A token bucket: {@code perSecond} tokens a second, at most {@code burst} saved up. Thread-safe. */
    static final class ReportRate {
        private final double perNano;
        private final double burst;
        private double tokens;
        private long lastNanos;
        private boolean started;

        ReportRate(int perSecond, int burst) {
            this.perNano = perSecond / 1e9;
            this.burst = burst;
            this.tokens = burst;
        }

        synchronized boolean take(long nowNanos) {
            if (started) {
                tokens = Math.min(burst, tokens + (nowNanos - lastNanos) * perNano);
            }
            started = true;
            lastNanos = nowNanos;
            if (tokens < 1) {
                return false;
            }
            tokens -= 1;
            return true;
        }
    }

    @Override
    public void onExpose(Frame.Expose announcement) {
        expose.announce(this, announcement)
                .onComplete(ar -> execute(() -> {
                    Frame.ExposeResult result = ar.succeeded()
                            ? ar.result()
                            : new Frame.ExposeResult(announcement.services().stream()
                                    .map(s -> new Frame.Grant(s.name(), false, 0, "internal error on the exit node"))
                                    .toList());
                    if (ar.failed()) {
                        LOG.warnf(
                                ar.cause(), "session %s: announcement of agent %s failed", idHex, announcement.agent());
                    }
                    exposeResult = result;
                    if (!closed && !session.isClosed()) {
                        sendExposeResult();
                    }
                }));
    }

    /** Runs {@code task} on the session's context (directly when already on its event loop). */
    public void execute(Runnable task) {
        if (Thread.currentThread() == loop) {
            task.run();
        } else {
            context.runOnContext(v -> task.run());
        }
    }

    void start() {
        tickTimer = vertx.setPeriodic(settings.ackInterval().toMillis(), id -> tick());
        metrics.sessionOpened();
        LOG.infof("session %s opened token=%s", idHex, tokenId);
    }

    /**
     * Attaches a full-duplex leg (NEW or RESUME): it carries the client's frames and the session's. Sends the WELCOME
     * (built from this side's last received sequence) first on it, then resends what the peer missed. On the
     * session's context. Legs no longer used in either direction are closed.
     */
    public void attach(Leg newLeg, LongFunction<Frame.Welcome> welcome, long peerLastReceivedSeq, boolean resumed) {
        Leg oldInbound = inbound;
        inbound = newLeg;
        if (!attachOutbound(newLeg, welcome, peerLastReceivedSeq)) {
            return;
        }
        closeIfUnused(oldInbound);
        if (resumed) {
            metrics.resumed();
            LOG.infof("session %s resumed token=%s", idHex, tokenId);
        }
    }

    /**
     * Split path: {@code newLeg} carries only the session's frames to the client (JOIN_DOWNSTREAM); the client's
     * frames keep arriving on the current inbound leg. On the session's context.
     */
    public void joinDownstream(Leg newLeg, LongFunction<Frame.Welcome> welcome, long peerLastReceivedSeq) {
        if (attachOutbound(newLeg, welcome, peerLastReceivedSeq)) {
            LOG.infof("session %s joined downstream leg token=%s", idHex, tokenId);
        }
    }

    /**
     * Split path: {@code newLeg} carries only the client's frames (JOIN_UPSTREAM); the session's frames keep going to
     * the current outbound leg. The WELCOME goes back on the new leg itself. On the session's context.
     */
    public void joinUpstream(Leg newLeg, LongFunction<Frame.Welcome> welcome) {
        if (closed || session.isClosed()) {
            newLeg.closeTransport(CloseCode.UNKNOWN_SESSION, "session " + idHex + " is closed");
            return;
        }
        newLeg.welcome(welcome.apply(session.lastReceivedSeq()));
        replaceInbound(newLeg);
        LOG.infof("session %s joined upstream leg token=%s", idHex, tokenId);
    }

    /**
     * Split path from the start (NEW with {@code Capabilities.SPLIT}): {@code newLeg} carries only the client's frames
     * and gets the WELCOME; the session has no sink (its frames wait in the resend buffer) until a JOIN_DOWNSTREAM leg
     * arrives within the resume timeout. On the session's context, right after {@link SessionRegistry#create}.
     */
    public void openUpstreamOnly(Leg newLeg, LongFunction<Frame.Welcome> welcome) {
        inbound = newLeg;
        newLeg.welcome(welcome.apply(session.lastReceivedSeq()));
        updateResumeTimer();
    }

    /**
     * A downstream request of {@code leg} (an HTTP GET) takes over: the session's frames after {@code peerLastReceivedSeq}
     * are resent to the leg's sink, then new ones follow, and a pending acknowledgement goes out at once. False if the
     * leg no longer carries this session's outbound frames. On the session's context.
     */
    public boolean resumeOutbound(Leg leg, long peerLastReceivedSeq) {
        if (closed || session.isClosed() || leg != outbound) {
            return false;
        }
        try {
            session.attach(leg.sink(), peerLastReceivedSeq);
        } catch (ProtocolException e) {
            fail(e);
            return false;
        }
        session.flushAck();
        if (exposeResultUnsent) {
            sendExposeResult();
        }
        return true;
    }

    /**
     * The outbound leg dropped {@code frame} because it had no downstream request to write it to. Numbered frames come
     * again from the resend buffer; the answer to EXPOSE is sent again with the leg's next request. On the session's
     * context.
     */
    public void controlFrameDropped(Frame frame) {
        if (frame instanceof Frame.ExposeResult) {
            exposeResultUnsent = true;
        }
    }

    private void sendExposeResult() {
        exposeResultUnsent = !session.sendControl(exposeResult);
    }

    /**
     * The leg's current downstream request cannot take more frames (it ended or its write queue is full): frames wait in
     * the resend buffer for the leg's next request ({@link #resumeOutbound}). The leg stays the session's outbound leg.
     * On the session's context.
     */
    public void pauseOutbound(Leg leg) {
        if (leg == outbound) {
            session.detach(leg.sink());
        }
    }

    /**
     * True while a stream can carry a request and its answer now: the session is open and has a leg each way (a split
     * session whose upstream leg is away has an outbound sink but hears nothing back). On the session's context.
     */
    public boolean carriesStreams() {
        return !closed && !session.isClosed() && inbound != null && outbound != null;
    }

    /** True if {@code stream} is one of this session's streams. Any thread. */
    public boolean owns(dev.splitstream.protocol.Stream stream) {
        return stream.session() == session;
    }

    /** True if {@code leg} carries the client's frames. On the session's context. */
    public boolean isInbound(Leg leg) {
        return leg == inbound && !closed;
    }

    /** True if {@code leg} carries the session's frames. On the session's context. */
    public boolean isOutbound(Leg leg) {
        return leg == outbound && !closed;
    }

    private boolean attachOutbound(Leg newLeg, LongFunction<Frame.Welcome> welcome, long peerLastReceivedSeq) {
        if (closed || session.isClosed()) {
            newLeg.closeTransport(CloseCode.UNKNOWN_SESSION, "session " + idHex + " is closed");
            return false;
        }
        Leg old = outbound;
        if (old != null) {
            session.detach(old.sink());
        }
        outbound = newLeg;
        newLeg.welcome(welcome.apply(session.lastReceivedSeq()));
        try {
            session.attach(newLeg.sink(), peerLastReceivedSeq);
        } catch (ProtocolException e) {
            fail(e);
            return false;
        }
        closeIfUnused(old);
        updateResumeTimer();
        if (exposeResult != null) {
            sendExposeResult();
        }
        return true;
    }

    private void replaceInbound(Leg newLeg) {
        Leg old = inbound;
        inbound = newLeg;
        closeIfUnused(old);
        updateResumeTimer();
    }

    private void closeIfUnused(Leg old) {
        if (old != null && old != inbound && old != outbound) {
            old.closeTransport(CloseCode.NORMAL, "replaced by a newer connection");
        }
    }

    /** The current value for a resumed connection's WELCOME. On the session's context. */
    public long lastReceivedSeq() {
        return session.lastReceivedSeq();
    }

    /** True while the session sends DATA plain because the path outran deflate. Any thread (a gauge). */
    public boolean sendsDataPlain() {
        return session.sendsDataPlain();
    }

    /** True once the session ended. On the session's context. */
    public boolean isClosed() {
        return closed || session.isClosed();
    }

    /**
     * Hands a batch of inbound frames from {@code from} to the session, in order. False if the leg is not the session's
     * inbound leg (the frames are dropped) or the session ended. On the session's context.
     */
    public boolean receiveAll(Leg from, java.util.List<Frame> frames) {
        if (from != inbound || closed) {
            return false;
        }
        for (Frame frame : frames) {
            try {
                session.receive(frame);
            } catch (ProtocolException e) {
                fail(e);
                return false;
            }
        }
        return !closed;
    }

    /** Hands an inbound frame from {@code from} to the session; frames of a replaced leg are dropped. */
    public void receive(Leg from, Frame frame) {
        execute(() -> {
            if (from != inbound || closed) {
                return;
            }
            try {
                session.receive(frame);
            } catch (ProtocolException e) {
                fail(e);
            }
        });
    }

    /** The peer sent bytes that are not a valid frame, or broke the protocol: close the session with that reason. */
    public void protocolError(Leg from, ProtocolException e) {
        execute(() -> {
            if (from == inbound || from == outbound) {
                fail(e);
            }
        });
    }

    /** A leg's transport closed; the session waits for a RESUME (or a re-JOIN) up to the resume timeout. */
    public void legLost(Leg lost) {
        execute(() -> {
            if (closed || (lost != inbound && lost != outbound)) {
                return;
            }
            if (lost == outbound) {
                session.detach(lost.sink());
                outbound = null;
            }
            if (lost == inbound) {
                inbound = null;
            }
            updateResumeTimer();
        });
    }

    // Runs while a direction has no leg: the client has resume-timeout to reconnect it.
    private void updateResumeTimer() {
        boolean complete = inbound != null && outbound != null;
        if (inbound == null && outbound == null) {
            if (detachedSince == ATTACHED) {
                long now = System.nanoTime();
                detachedSince = now == ATTACHED ? now + 1 : now;
            }
        } else {
            detachedSince = ATTACHED;
        }
        if (complete) {
            everComplete = true;
            cancelResumeTimer();
            return;
        }
        if (resumeTimer >= 0 || closed) {
            return;
        }
        long ms = settings.resumeTimeout().toMillis();
        resumeTimer = vertx.setTimer(ms, id -> {
            resumeTimer = -1;
            if ((inbound == null || outbound == null) && !closed) {
                session.close(CloseCode.TIMEOUT, "not resumed within " + ms + "ms");
            }
        });
        if (!everComplete) {
            LOG.infof("session %s waits up to %dms for its downstream leg", idHex, ms);
            return;
        }
        LOG.infof(
                "session %s %s, kept %dms for a resume",
                idHex, inbound == null && outbound == null ? "detached" : "lost a leg", ms);
    }

    /** Closes the session (node shutdown). */
    public void close(CloseCode code, String message) {
        execute(() -> {
            if (!closed && !session.isClosed()) {
                session.close(code, message);
            }
            onClosed(code, message);
        });
    }

    private void fail(ProtocolException e) {
        LOG.warnf("session %s: %s %s", idHex, e.code(), e.getMessage());
        if (!session.isClosed()) {
            session.close(e.code(), e.getMessage());
        }
        onClosed(e.code(), e.getMessage());
    }

    private void tick() {
        if (closed) {
            return;
        }
        if (outbound == null) {
            return;
        }
        session.flushAck();
        long idleNanos = session.nanosSinceLastReceive();
        if (idleNanos > settings.idleTimeout().toNanos()) {
            session.close(
                    CloseCode.TIMEOUT, "no frames for " + settings.idleTimeout().toSeconds() + "s");
            return;
        }
        long now = System.nanoTime();
        if (now - lastPingNanos >= settings.pingInterval().toNanos()) {
            lastPingNanos = now;
            session.ping();
        }
    }

    private void cancelResumeTimer() {
        if (resumeTimer >= 0) {
            vertx.cancelTimer(resumeTimer);
            resumeTimer = -1;
        }
    }

    @Override
    public void onStreamOpened(Stream stream) {
        String target = Dialer.display(stream.host(), stream.port());
        Optional<TokenPolicy> policy = tokens.policy(tokenId);
        if (policy.isEmpty()) {
            refuse(stream, new DialException(ResetCode.NOT_ALLOWED, "token " + tokenId + " was revoked"));
            return;
        }
        if (session.streamCount() > policy.get().maxStreams()) {
            refuse(
                    stream,
                    new DialException(
                            ResetCode.TOO_MANY_STREAMS,
                            "too many streams on this session (max "
                                    + policy.get().maxStreams() + ")"));
            return;
        }
        if (budget.isSpentForNew()) {
            // No lease for the target connection, nor room to wait for one: do not dial it only to close it (the bridge
            // says why otherwise).
            String why = "the exit node's buffer budget is spent (" + budget.describe() + "); try again later";
            metrics.dialFailure(ResetCode.TOO_MANY_STREAMS.name());
            metrics.refusal("stream", "BUFFER_BUDGET", "token " + tokenId + " session " + idHex + ": " + why);
            stream.reset(ResetCode.TOO_MANY_STREAMS, why);
            return;
        }
        dialer.dial(stream.host(), stream.port(), policy.get().allow(), "token " + tokenId)
                .onComplete(ar -> execute(() -> {
                    if (ar.failed()) {
                        DialException e = ar.cause() instanceof DialException d
                                ? d
                                : new DialException(ResetCode.INTERNAL, "dialing " + target + " failed");
                        refuse(stream, e);
                        return;
                    }
                    if (closed || session.isClosed()) {
                        ar.result().close();
                        return;
                    }
                    LOG.debugf("session %s stream %d connected to %s", idHex, stream.id(), target);
                    registry.dialed(this, target, "connected", null);
                    new SocketBridge(ar.result(), "target connection", target, metrics.targets(), null, budget)
                            .accept(stream);
                }));
    }

    private void refuse(Stream stream, DialException e) {
        metrics.dialFailure(e.code().name(), "token " + tokenId + " session " + idHex + ": " + e.getMessage());
        STREAM_REFUSALS.log(
                e.code().name(), "session %s stream %d refused: %s %s", idHex, stream.id(), e.code(), e.getMessage());
        registry.dialed(
                this, Dialer.display(stream.host(), stream.port()), e.code().name(), e.getMessage());
        stream.reset(e.code(), e.getMessage());
    }

    @Override
    public void onClosed(CloseCode code, String message) {
        if (closed) {
            return;
        }
        closed = true;
        if (tickTimer >= 0) {
            vertx.cancelTimer(tickTimer);
        }
        cancelResumeTimer();
        registry.remove(this);
        expose.sessionClosed(this);
        metrics.sessionClosed();
        var stats = session.stats();
        LOG.infof(
                "session %s closed: %s %s (streams %d, bytes up %d down %d)",
                idHex, code, message, stats.streamsOpened(), stats.bytesReceived(), stats.bytesSent());
        registry.ended(this, code.name(), message, stats.bytesReceived(), stats.bytesSent());
        Leg in = inbound;
        Leg out = outbound;
        inbound = null;
        outbound = null;
        if (out != null) {
            out.closeTransport(code, message);
        }
        if (in != null && in != out) {
            in.closeTransport(code, message);
        }
    }

    @Override
    public void onRtt(long rttNanos) {
        this.rttNanos = rttNanos;
        metrics.rtt(rttNanos);
    }
}
