package dev.splitstream.exit.transport.ws;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.session.Leg;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.TokenPolicy;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Deflate;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameSink;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ReplayGuard;
import dev.splitstream.protocol.ServerHandshake;
import io.netty.buffer.Unpooled;
import io.quarkus.websockets.next.CloseReason;
import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * One WebSocket connection: runs the server handshake (with a deadline), then carries one session's frames, one frame
 * per binary message. Inbound callbacks arrive serially on the connection's event loop; once a session is attached,
 * frames hop to the session's context (which differs after a resume from another event loop).
 */
final class WsLeg implements Leg {
    private static final Logger LOG = Logger.getLogger(WsLeg.class);
    /** WebSocket close status for a refused handshake or a protocol violation (policy violation). */
    static final int WS_POLICY_VIOLATION = 1008;

    enum Phase {
        HELLO,
        PROOF,
        OPEN,
        CLOSED
    }

    /** Node-wide collaborators shared by all connections. */
    record Deps(
            Vertx vertx,
            ExitSettings settings,
            TokenRegistry tokens,
            SessionRegistry sessions,
            ReplayGuard replay,
            ExitMetrics metrics,
            SecureRandom random) {}

    private final WebSocketConnection connection;
    private final Deps deps;
    // Replaced once the handshake agreed on the version and capabilities; read by the session's thread.
    private volatile FrameCodec codec;
    private final ServerHandshake handshake;
    private final FrameSink sink = this::send;
    private volatile Phase phase = Phase.HELLO;
    private long handshakeTimer;
    private ExitSession session;

    WsLeg(WebSocketConnection connection, Deps deps) {
        this.connection = connection;
        this.deps = deps;
        Limits limits = deps.settings().limits();
        this.codec = new FrameCodec(limits);
        this.handshake = new ServerHandshake(
                deps.tokens(),
                deps.sessions(),
                deps.replay(),
                limits,
                deps.settings().deflate() ? Capabilities.DEFLATE : 0,
                Clock.systemUTC(),
                deps.random());
        long ms = deps.settings().handshakeTimeout().toMillis();
        this.handshakeTimer = deps.vertx().setTimer(ms, id -> {
            handshakeTimer = -1;
            if (phase == Phase.HELLO || phase == Phase.PROOF) {
                refuse(CloseCode.TIMEOUT, "handshake not completed within " + ms + "ms");
            }
        });
    }

    @Override
    public FrameSink sink() {
        return sink;
    }

    void onMessage(Buffer message) {
        if (phase == Phase.CLOSED) {
            return;
        }
        // Vert.x hands WebSocket messages over as unpooled heap buffers: a view, not a copy.
        ByteBuffer bytes = message.getByteBuf().nioBuffer();
        Frame frame;
        try {
            frame = codec.decodeMessage(bytes);
        } catch (ProtocolException e) {
            if (phase == Phase.OPEN) {
                session.protocolError(this, e);
            } else {
                refuse(e.code(), e.getMessage());
            }
            return;
        } catch (RuntimeException e) {
            LOG.errorf(e, "cannot decode a frame");
            fail(CloseCode.PROTOCOL_ERROR, "malformed frame");
            return;
        }
        switch (phase) {
            case HELLO -> onHello(frame);
            case PROOF -> onProof(frame);
            case OPEN -> session.receive(this, frame);
            default -> {}
        }
    }

    private void onHello(Frame frame) {
        if (!(frame instanceof Frame.Hello)) {
            refuse(CloseCode.PROTOCOL_ERROR, "expected HELLO, got " + frame.type());
            return;
        }
        try {
            Frame.Challenge challenge = handshake.onHello(frame);
            phase = Phase.PROOF;
            send(challenge);
        } catch (ProtocolException e) {
            refuse(e.code(), e.getMessage());
        }
    }

    private void onProof(Frame frame) {
        if (frame instanceof Frame.Close close) {
            phase = Phase.CLOSED;
            cancelHandshakeTimer();
            connection.close().subscribe().with(v -> {}, t -> {});
            LOG.debugf("client gave up the handshake: %s %s", close.code(), close.message());
            return;
        }
        if (!(frame instanceof Frame.Proof)) {
            refuse(CloseCode.PROTOCOL_ERROR, "expected PROOF, got " + frame.type());
            return;
        }
        HandshakeResult result;
        try {
            result = handshake.onProof(frame);
        } catch (ProtocolException e) {
            refuse(e.code(), e.getMessage());
            return;
        }
        codec = FrameCodec.forSession(deps.settings().limits(), result, Deflate.defaults());
        switch (result.intent()) {
            case NEW -> openNew(result);
            default -> join(result);
        }
    }

    private void openNew(HandshakeResult result) {
        Optional<TokenPolicy> policy = deps.tokens().policy(result.tokenId());
        if (policy.isEmpty()) {
            refuse(CloseCode.AUTH_FAILED, "unknown token id " + result.tokenId());
            return;
        }
        if (!deps.sessions().hasRoom()) {
            refuse(
                    CloseCode.LIMIT_EXCEEDED,
                    "too many sessions on this exit node (max "
                            + deps.settings().maxSessions() + ")");
            return;
        }
        Limits limits = deps.settings().limits();
        limits =
                limits.withMaxStreams(Math.min(limits.maxStreams(), policy.get().maxStreams()));
        cancelHandshakeTimer();
        phase = Phase.OPEN;
        session = deps.sessions().create(result, limits);
        session.attach(this, handshake::welcome, result.peerLastReceivedSeq(), false);
    }

    /** RESUME (a full-duplex replacement) or JOIN_UPSTREAM/JOIN_DOWNSTREAM (one half of a split path). */
    private void join(HandshakeResult result) {
        Optional<ExitSession> found = deps.sessions().find(result.sessionId());
        if (found.isEmpty()) {
            refuse(CloseCode.UNKNOWN_SESSION, "no session " + hex(result.sessionId()) + " on this exit node");
            return;
        }
        cancelHandshakeTimer();
        ExitSession s = found.get();
        session = s;
        phase = Phase.OPEN;
        long peerLast = result.peerLastReceivedSeq();
        // Queued on the session's context before any later frame of this connection, so ordering holds.
        switch (result.intent()) {
            case JOIN_UPSTREAM -> s.execute(() -> s.joinUpstream(this, handshake::welcome));
            case JOIN_DOWNSTREAM -> s.execute(() -> s.joinDownstream(this, handshake::welcome, peerLast));
            default -> s.execute(() -> s.attach(this, handshake::welcome, peerLast, true));
        }
    }

    void onClose() {
        Phase was = phase;
        phase = Phase.CLOSED;
        cancelHandshakeTimer();
        if (was == Phase.OPEN && session != null) {
            session.legLost(this);
        }
    }

    private void refuse(CloseCode code, String message) {
        if (phase == Phase.CLOSED) {
            return;
        }
        LOG.warnf("handshake refused: %s %s", code, message);
        deps.metrics().handshakeFailure(code.name());
        fail(code, message);
    }

    private void fail(CloseCode code, String message) {
        phase = Phase.CLOSED;
        cancelHandshakeTimer();
        send(new Frame.Close(code, message));
        closeTransport(code, message);
    }

    private void cancelHandshakeTimer() {
        if (handshakeTimer >= 0) {
            deps.vertx().cancelTimer(handshakeTimer);
            handshakeTimer = -1;
        }
    }

    /** Encodes and sends one frame; safe from any thread (Vert.x hops to the connection's event loop). */
    private void send(Frame frame) {
        if (connection.isClosed()) {
            return;
        }
        ByteBuffer encoded = codec.encode(frame);
        connection
                .sendBinary(Buffer.buffer(Unpooled.wrappedBuffer(encoded)))
                .subscribe()
                .with(v -> {}, t -> LOG.debugf("send failed: %s", t.getMessage()));
    }

    @Override
    public void closeTransport(CloseCode code, String reason) {
        phase = Phase.CLOSED;
        if (connection.isClosed()) {
            return;
        }
        int status = code == CloseCode.NORMAL || code == CloseCode.GOING_AWAY
                ? (code == CloseCode.NORMAL ? 1000 : 1001)
                : WS_POLICY_VIOLATION;
        connection.close(new CloseReason(status, closeText(code))).subscribe().with(v -> {}, t -> {});
    }

    // A WebSocket close reason is limited to 123 bytes; the CLOSE frame carries the full message.
    private static String closeText(CloseCode code) {
        String text = code.name();
        return text.getBytes(StandardCharsets.UTF_8).length > 123 ? text.substring(0, 100) : text;
    }

    private static String hex(byte[] id) {
        return id == null ? "" : java.util.HexFormat.of().formatHex(id);
    }
}
