package dev.splitstream.exit.transport.ws;

import dev.splitstream.bridge.WebSocketMessages;
import dev.splitstream.bridge.WebSocketWriter;
import dev.splitstream.exit.relay.LegRelay;
import dev.splitstream.exit.relay.WsRelay;
import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.session.Leg;
import dev.splitstream.exit.transport.LegHandshake;
import dev.splitstream.exit.transport.TransportDeps;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameProtection;
import dev.splitstream.protocol.FrameSink;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.ProtocolException;
import io.netty.buffer.Unpooled;
import io.quarkus.websockets.next.CloseReason;
import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocketBase;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
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
        /** Relayed to the replica that owns the session: messages pass through unchanged. */
        RELAY,
        CLOSED
    }

    private final WebSocketConnection connection;
    private final TransportDeps deps;
    private final LegHandshake handshake;
    private final FrameSink sink = new FrameSink() {
        @Override
        public void send(Frame frame) {
            WsLeg.this.send(frame);
        }

        @Override
        public long deflatedPayloadBytes() {
            return handshake.codec().deflatedPayloadBytes();
        }
    };
    private volatile Phase phase = Phase.HELLO;
    private long handshakeTimer;
    private ExitSession session;
    /** A split path's downstream-only leg: the client must send nothing on it after the handshake. */
    private boolean downstreamOnly;
    /** Where the connection came from (a relaying replica's client, if relayed). */
    private final LegRelay.Inbound inbound;

    private WsRelay relay;

    /**
     * Writes to the Vert.x WebSocket under the connection, flushing once per event-loop turn; null when websockets-next
     * does not let us reach it (then its {@code Uni}-per-message API sends).
     */
    private final WebSocketWriter writer;

    private static volatile boolean warnedNoWriter;

    WsLeg(WebSocketConnection connection, TransportDeps deps) {
        this.connection = connection;
        WebSocketBase ws = UnderlyingWebSocket.of(connection);
        this.writer = ws == null ? null : WebSocketWriter.of(ws);
        if (writer == null && !warnedNoWriter) {
            warnedNoWriter = true;
            LOG.warnf(
                    "the exit cannot reach the Netty channel of WebSocket connections (%s): every frame goes out"
                            + " through websockets-next's per-message API, one flush each",
                    ws == null ? connection.getClass().getName() : ws.getClass().getName());
        }
        this.deps = deps;
        this.handshake = new LegHandshake(deps);
        this.inbound = deps.relay().inbound(connection);
        long ms = deps.settings().handshakeTimeout().toMillis();
        this.handshakeTimer = deps.vertx().setTimer(ms, id -> {
            handshakeTimer = -1;
            if (phase == Phase.HELLO || phase == Phase.PROOF) {
                refuse(CloseCode.TIMEOUT, "handshake not completed within " + ms + "ms");
            }
        });
        if (ws != null) {
            // Messages straight from the frames, without Vert.x's aggregating copy and websockets-next's dispatch;
            // ExitWebSocket.onMessage then only serves connections whose WebSocket could not be reached.
            int maxMessage =
                    deps.settings().limits().maxPayload() + FrameCodec.HEADER_LENGTH + FrameProtection.OVERHEAD + 4096;
            try {
                ws.textMessageHandler(null);
                ws.binaryMessageHandler(null);
                ws.frameHandler(new WebSocketMessages(maxMessage, new WebSocketMessages.Sink() {
                    @Override
                    public void onMessage(Buffer message) {
                        WsLeg.this.onMessage(message);
                    }

                    @Override
                    public void onInvalid(String reason) {
                        if (phase == Phase.OPEN && session != null) {
                            session.protocolError(WsLeg.this, new ProtocolException(reason));
                        } else {
                            fail(CloseCode.PROTOCOL_ERROR, reason);
                        }
                    }
                }));
            } catch (IllegalStateException closedAlready) {
                // the WebSocket closed before the endpoint opened: websockets-next reports the close
            }
        }
    }

    @Override
    public FrameSink sink() {
        return sink;
    }

    @Override
    public String transportName() {
        return "websocket";
    }

    @Override
    public String remoteAddress() {
        return inbound.clientAddress();
    }

    void onMessage(Buffer message) {
        if (phase == Phase.CLOSED) {
            return;
        }
        if (phase == Phase.RELAY) {
            relay.fromClient(message);
            return;
        }
        // Vert.x hands WebSocket messages over as unpooled heap buffers: a view, not a copy.
        ByteBuffer bytes = message.getByteBuf().nioBuffer();
        Frame frame;
        try {
            frame = handshake.codec().decodeMessage(bytes);
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
            case HELLO -> onHello(frame, message);
            case PROOF -> onProof(frame);
            case OPEN -> onSessionFrame(frame);
            default -> {}
        }
    }

    private void onSessionFrame(Frame frame) {
        if (downstreamOnly) {
            // The leg is closed, not the session: the client may rejoin a downstream leg.
            LegHandshake.REFUSALS.log(
                    "downstream_only",
                    "session %s: %s frame on a downstream-only leg, leg closed",
                    session.idHex(),
                    frame.type());
            closeTransport(CloseCode.PROTOCOL_ERROR, "frame on a downstream-only leg");
            return;
        }
        session.receive(this, frame);
    }

    private void onHello(Frame frame, Buffer message) {
        if (inbound.forged()) {
            refuse(CloseCode.AUTH_FAILED, "invalid replica relay signature");
            return;
        }
        if (frame instanceof Frame.Hello hello && deps.relay().wantsRelay(hello, inbound)) {
            // Another replica may own the session: relay this connection there (or fall back to handling it here).
            phase = Phase.RELAY;
            cancelHandshakeTimer();
            relay = deps.relay().webSocket(connection, inbound, hello, message, new LegRelay.Fallback() {
                @Override
                public void local() {
                    if (connection.isClosed()) {
                        return;
                    }
                    phase = Phase.HELLO;
                    relay = null;
                    onHello(frame);
                }

                @Override
                public void refuse(CloseCode code, String reason) {
                    if (connection.isClosed()) {
                        return;
                    }
                    phase = Phase.HELLO;
                    relay = null;
                    WsLeg.this.refuse(code, reason);
                }
            });
            return;
        }
        onHello(frame);
    }

    private void onHello(Frame frame) {
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
        try {
            HandshakeResult result = handshake.onProof(frame);
            downstreamOnly = result.intent() == Frame.Intent.JOIN_DOWNSTREAM;
            cancelHandshakeTimer();
            phase = Phase.OPEN;
            session = handshake.admit(result, this);
        } catch (ProtocolException e) {
            phase = Phase.PROOF;
            refuse(e.code(), e.getMessage());
        }
    }

    void onClose() {
        if (phase == Phase.RELAY && relay != null) {
            phase = Phase.CLOSED;
            relay.clientClosed();
            return;
        }
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
        handshake.refused(code, message);
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
        // Sealed frames must leave in the order of their counters: encoding and queueing happen under one lock.
        synchronized (this) {
            if (writer != null) {
                writer.write(frame, handshake.encoder());
                return;
            }
            ByteBuffer encoded = handshake.encoder().encode(frame);
            connection
                    .sendBinary(Buffer.buffer(Unpooled.wrappedBuffer(encoded)))
                    .subscribe()
                    .with(v -> {}, t -> LOG.debugf("send failed: %s", t.getMessage()));
        }
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
}
