package dev.splitstream.exit.relay;

import dev.splitstream.exit.registry.ExitRegistry.OwnerLookup;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import io.quarkus.websockets.next.CloseReason;
import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketConnectOptions;
import java.net.URI;
import java.util.ArrayDeque;
import java.util.Locale;
import org.jboss.logging.Logger;

/**
 * One WebSocket leg relayed to the replica that owns its session: every binary message of the client goes to the
 * owner unchanged, and every message of the owner back. The owner's direction has explicit backpressure (its socket is
 * paused while more than {@value #HIGH_WATER} bytes wait for the client); the client's direction is bounded by the
 * tunnel's own flow control, and a leg with more than {@value #MAX_PENDING} bytes waiting for the owner is closed (the
 * entry resumes). Confined to the client connection's event loop.
 */
public final class WsRelay {
    private static final Logger LOG = Logger.getLogger(WsRelay.class);
    static final int HIGH_WATER = 1024 * 1024;
    static final int LOW_WATER = 256 * 1024;
    static final int MAX_PENDING = 32 * 1024 * 1024;
    /** Messages a client may send before the hop to the owner is up (the handshake is lock-step: one or two). */
    private static final int MAX_EARLY = 16;

    private final LegRelay relay;
    private final WebSocketConnection client;
    private final String clientAddress;
    private final String sessionHex;
    private final Frame.Intent intent;
    private final ArrayDeque<Buffer> early = new ArrayDeque<>();
    private final long startNanos = System.nanoTime();
    private WebSocket owner;
    private String ownerId;
    private boolean closed;
    private long toOwnerPending;
    private long toClientPending;
    private long bytesUp;
    private long bytesDown;

    WsRelay(
            LegRelay relay,
            WebSocketConnection client,
            String clientAddress,
            String sessionHex,
            Frame.Intent intent,
            Buffer hello) {
        this.relay = relay;
        this.client = client;
        this.clientAddress = clientAddress;
        this.sessionHex = sessionHex;
        this.intent = intent;
        early.add(hello.copy());
    }

    /** The session is not relayed after all: forget the HELLO (the leg handles it). */
    void abandon() {
        closed = true;
        early.clear();
    }

    void connect(OwnerLookup found) {
        if (closed) {
            return;
        }
        ownerId = found.replicaId();
        URI base = found.url();
        String scheme = "https".equals(base.getScheme().toLowerCase(Locale.ROOT)) ? "wss" : "ws";
        String prefix = base.getRawPath() == null ? "" : base.getRawPath().replaceAll("/+$", "");
        int port = base.getPort() > 0 ? base.getPort() : scheme.equals("wss") ? 443 : 80;
        WebSocketConnectOptions options = new WebSocketConnectOptions()
                .setHost(base.getHost())
                .setPort(port)
                .setSsl(scheme.equals("wss"))
                .setURI(prefix + "/splitstream/v1/ws")
                .addSubProtocol("splitstream.v1")
                .addHeader(ClusterAuth.RELAY_HEADER, relay.sign(clientAddress))
                .addHeader(ClusterAuth.FOR_HEADER, clientAddress == null ? "" : clientAddress);
        relay.wsClient().connect(options).onComplete(ar -> {
            if (ar.failed()) {
                LOG.warnf("session %s: replica %s unreachable for a relayed leg: %s", sessionHex, ownerId, ar.cause());
                finish("owner_unreachable", ar.cause().getMessage());
                // The entry retries; once the owner stops heart-beating the session is unknown and it starts anew.
                client.sendBinary(relay.closeFrame(
                                CloseCode.GOING_AWAY,
                                "replica " + ownerId + " that owns session " + sessionHex + " is unreachable; retry"))
                        .subscribe()
                        .with(
                                v -> closeClient((short) 1001, "GOING_AWAY"),
                                t -> closeClient((short) 1001, "GOING_AWAY"));
                return;
            }
            if (closed) {
                ar.result().close();
                return;
            }
            owner = ar.result();
            relay.relayedWebSocket();
            LOG.infof("session %s: %s leg from %s relayed to replica %s", sessionHex, intent, clientAddress, ownerId);
            owner.binaryMessageHandler(this::fromOwner);
            owner.closeHandler(v -> {
                Short status = owner.closeStatusCode();
                String reason = owner.closeReason();
                finish("relayed", reason);
                boolean sendable = status != null && status != 1005 && status != 1006 && status != 1015;
                closeClient(sendable ? status : (short) 1001, reason == null ? "" : reason);
            });
            owner.exceptionHandler(t -> LOG.debugf("session %s: relay to %s: %s", sessionHex, ownerId, t.toString()));
            while (!early.isEmpty()) {
                toOwner(early.poll());
            }
        });
    }

    /** A binary message from the client. */
    public void fromClient(Buffer message) {
        if (closed) {
            return;
        }
        if (owner == null) {
            if (early.size() >= MAX_EARLY) {
                finish("protocol_error", "client sent too much before its relay was up");
                closeClient((short) 1008, "PROTOCOL_ERROR");
                return;
            }
            early.add(message.copy());
            return;
        }
        toOwner(message);
    }

    private void toOwner(Buffer message) {
        int n = message.length();
        bytesUp += n;
        toOwnerPending += n;
        if (toOwnerPending > MAX_PENDING) {
            finish("limit_exceeded", "more than " + MAX_PENDING + " bytes waiting for replica " + ownerId);
            owner.close((short) 1001, "GOING_AWAY");
            closeClient((short) 1008, "LIMIT_EXCEEDED");
            return;
        }
        owner.writeBinaryMessage(message).onComplete(ar -> toOwnerPending -= n);
    }

    private void fromOwner(Buffer message) {
        if (closed) {
            return;
        }
        int n = message.length();
        bytesDown += n;
        toClientPending += n;
        if (toClientPending > HIGH_WATER) {
            owner.pause();
        }
        client.sendBinary(message).subscribe().with(v -> delivered(n), t -> delivered(n));
    }

    private void delivered(int n) {
        toClientPending -= n;
        if (toClientPending < LOW_WATER && owner != null && !closed) {
            owner.resume();
        }
    }

    /** The client's connection closed. */
    public void clientClosed() {
        if (owner != null && !owner.isClosed()) {
            owner.close((short) 1001, "GOING_AWAY");
        }
        finish("relayed", "client closed");
    }

    private void finish(String outcome, String detail) {
        if (closed) {
            return;
        }
        closed = true;
        early.clear();
        relay.audit(
                sessionHex,
                clientAddress,
                "websocket",
                ownerId,
                outcome,
                intent.name() + (detail == null || detail.isEmpty() ? "" : ": " + detail),
                bytesUp,
                bytesDown,
                (System.nanoTime() - startNanos) / 1_000_000);
    }

    private void closeClient(short status, String reason) {
        if (!client.isClosed()) {
            client.close(new CloseReason(status, reason)).subscribe().with(v -> {}, t -> {});
        }
    }
}
