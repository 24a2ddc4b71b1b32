package dev.splitstream.exit.transport;

import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.session.Leg;
import dev.splitstream.exit.token.TokenPolicy;
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.RateLimitedLog;
import dev.splitstream.protocol.ServerHandshake;
import java.time.Clock;
import java.util.HexFormat;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The exit side of one leg's handshake, whatever carries it (a WebSocket, two HTTP requests): CHALLENGE on HELLO,
 * verification of the PROOF, then admission of the leg to a session by intent (NEW, NEW with {@link Capabilities#SPLIT},
 * RESUME, JOIN_UPSTREAM, JOIN_DOWNSTREAM). Refusals are {@link ProtocolException}s; {@link #refused} logs and counts
 * them the same way for every transport. Not thread-safe: one instance per leg, used by one request or connection at a
 * time.
 */
public final class LegHandshake {
    private static final Logger LOG = Logger.getLogger(LegHandshake.class);
    /** Refusals are what a flood provokes: a few lines per reason per interval, the metrics keep the exact count. */
    public static final RateLimitedLog REFUSALS = RateLimitedLog.of(LOG::warn);

    private final TransportDeps deps;
    private final ServerHandshake handshake;
    private final FrameCodec handshakeCodec;
    private volatile FrameCodec codec;
    /** Set once the WELCOME is on its way: from then on frames to the client are the session's (sealed). */
    private volatile boolean welcomed;

    private Frame.Intent intent;

    public LegHandshake(TransportDeps deps) {
        this.deps = deps;
        Limits limits = deps.settings().limits();
        this.handshakeCodec = new FrameCodec(limits);
        this.codec = handshakeCodec;
        this.handshake = new ServerHandshake(
                deps.tokens(),
                deps.sessions(),
                deps.replay(),
                limits,
                serverCapabilities(deps),
                Clock.systemUTC(),
                deps.random());
    }

    private static int serverCapabilities(TransportDeps deps) {
        return (deps.settings().deflate().isPresent() ? Capabilities.DEFLATE : 0)
                | Capabilities.SPLIT
                | Capabilities.EXPOSE
                | Capabilities.ROUTE_LOG
                | Capabilities.ROUTE_LOG_BATCH
                | (deps.settings().encryption() ? Capabilities.ENCRYPTED : 0);
    }

    /**
     * The codec that reads this leg's frames: the handshake's until the PROOF verified, then the session's (version,
     * DEFLATE, frame protection with this leg's keys).
     */
    public FrameCodec codec() {
        return codec;
    }

    /**
     * The codec that writes this leg's frames: the handshake's until the WELCOME goes out (a refusal after the PROOF,
     * such as too many sessions, must reach a client that does not have the session's keys yet), then the session's.
     */
    public FrameCodec encoder() {
        return welcomed ? codec : handshakeCodec;
    }

    private Frame.Welcome welcome(long lastReceivedSeq) {
        Frame.Welcome w = handshake.welcome(lastReceivedSeq);
        welcomed = true;
        return w;
    }

    /** Checks the HELLO (version, clock, replay, token or session id); returns the CHALLENGE to send. */
    public Frame.Challenge onHello(Frame frame) throws ProtocolException {
        if (frame instanceof Frame.Hello hello) {
            intent = hello.intent();
        }
        return handshake.onHello(frame);
    }

    /** Verifies the PROOF; from here on {@link #codec()} is the session's. */
    public HandshakeResult onProof(Frame frame) throws ProtocolException {
        if (!(frame instanceof Frame.Proof)) {
            throw new ProtocolException(CloseCode.PROTOCOL_ERROR, "expected PROOF, got " + frame.type());
        }
        HandshakeResult result = handshake.onProof(frame);
        codec = FrameCodec.forSession(
                deps.settings().limits(), result, deps.settings().deflate().orElse(null));
        return result;
    }

    /**
     * Admits {@code leg} to a session as the verified handshake asks. NEW creates the session on the caller's context
     * (the leg's event loop) and delivers the WELCOME at once; RESUME and JOIN_* queue the attachment on the existing
     * session's context, which delivers the WELCOME there (or closes the leg if the session ended meanwhile).
     *
     * @throws ProtocolException a refusal (unknown token, no room, unknown session) to report with {@link #refused}
     */
    public ExitSession admit(HandshakeResult result, Leg leg) throws ProtocolException {
        if (result.intent() == Frame.Intent.NEW) {
            return openNew(result, leg);
        }
        Optional<ExitSession> found = deps.sessions().find(result.sessionId());
        if (found.isEmpty()) {
            throw new ProtocolException(
                    CloseCode.UNKNOWN_SESSION,
                    "no session " + HexFormat.of().formatHex(result.sessionId()) + " on this exit node");
        }
        ExitSession s = found.get();
        long peerLast = result.peerLastReceivedSeq();
        // Queued on the session's context before any later frame of this leg, so ordering holds.
        switch (result.intent()) {
            case JOIN_UPSTREAM -> s.execute(() -> s.joinUpstream(leg, this::welcome));
            case JOIN_DOWNSTREAM -> s.execute(() -> s.joinDownstream(leg, this::welcome, peerLast));
            default -> s.execute(() -> s.attach(leg, this::welcome, peerLast, true));
        }
        return s;
    }

    private ExitSession openNew(HandshakeResult result, Leg leg) throws ProtocolException {
        Optional<TokenPolicy> policy = deps.tokens().policy(result.tokenId());
        if (policy.isEmpty()) {
            throw new ProtocolException(CloseCode.AUTH_FAILED, "unknown token id " + result.tokenId());
        }
        Limits limits = deps.settings().limits();
        limits =
                limits.withMaxStreams(Math.min(limits.maxStreams(), policy.get().maxStreams()));
        ExitSession s = deps.sessions().create(result, limits, policy.get());
        deps.sessions().opened(s, leg);
        if ((result.capabilities() & Capabilities.SPLIT) != 0) {
            s.openUpstreamOnly(leg, this::welcome);
        } else {
            s.attach(leg, this::welcome, result.peerLastReceivedSeq(), false);
        }
        return s;
    }

    /** True when the agreed capabilities make the leg carry the client's frames only (a split path's first leg). */
    public static boolean upstreamOnly(HandshakeResult result) {
        return result.intent() == Frame.Intent.JOIN_UPSTREAM
                || (result.intent() == Frame.Intent.NEW && (result.capabilities() & Capabilities.SPLIT) != 0);
    }

    /**
     * Logs ({@code handshake refused: <CODE> <message>}, WARN, rate limited per reason) and counts a refusal. A JOIN or RESUME whose proof failed
     * (the session id alone, without the session key) is counted as {@code join_without_proof}.
     */
    public void refused(CloseCode code, String message) {
        boolean join = intent != null && intent != Frame.Intent.NEW;
        String reason = join && code == CloseCode.AUTH_FAILED ? "join_without_proof" : code.name();
        deps.metrics().handshakeFailure(reason, message);
        REFUSALS.log(reason, "handshake refused: %s %s", code, message);
    }

    /** Logs and counts a refusal outside any handshake's state (e.g. an unknown HTTP handshake id), under {@code reason}. */
    public static void refused(TransportDeps deps, String reason, CloseCode code, String message) {
        deps.metrics().handshakeFailure(reason, message);
        REFUSALS.log(reason, "handshake refused: %s %s", code, message);
    }
}
