package dev.splitstream.exit.transport.ws;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.relay.LegRelay;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.exit.transport.TransportDeps;
import dev.splitstream.protocol.ReplayGuard;
import io.quarkus.websockets.next.OnBinaryMessage;
import io.quarkus.websockets.next.OnClose;
import io.quarkus.websockets.next.OnError;
import io.quarkus.websockets.next.OnOpen;
import io.quarkus.websockets.next.UserData;
import io.quarkus.websockets.next.WebSocket;
import io.quarkus.websockets.next.WebSocketConnection;
import io.smallrye.common.annotation.NonBlocking;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import java.security.SecureRandom;
import org.jboss.logging.Logger;

/**
 * The tunnel endpoint: binary WebSocket messages, one frame each. Every callback is non-blocking and runs on the
 * connection's event loop; per-connection state is a {@link WsLeg} kept in the connection's user data.
 */
@WebSocket(path = ExitWebSocket.PATH)
public class ExitWebSocket {
    /** Path of the endpoint (wire contract with the entry node). */
    public static final String PATH = "/splitstream/v1/ws";

    private static final Logger LOG = Logger.getLogger(ExitWebSocket.class);
    private static final UserData.TypedKey<WsLeg> LEG = new UserData.TypedKey<>("splitstream.leg");

    private final TransportDeps deps;

    public ExitWebSocket(
            Vertx vertx,
            ExitSettings settings,
            TokenRegistry tokens,
            SessionRegistry sessions,
            ExitMetrics metrics,
            ReplayGuard replay,
            LegRelay relay) {
        this.deps = new TransportDeps(vertx, settings, tokens, sessions, replay, metrics, new SecureRandom(), relay);
    }

    @OnOpen
    @NonBlocking
    void onOpen(WebSocketConnection connection) {
        connection.userData().put(LEG, new WsLeg(connection, deps));
    }

    @OnBinaryMessage
    @NonBlocking
    void onMessage(WebSocketConnection connection, Buffer message) {
        WsLeg leg = connection.userData().get(LEG);
        if (leg != null) {
            leg.onMessage(message);
        }
    }

    @OnClose
    @NonBlocking
    void onClose(WebSocketConnection connection) {
        WsLeg leg = connection.userData().remove(LEG);
        if (leg != null) {
            leg.onClose();
        }
    }

    @OnError
    @NonBlocking
    void onError(WebSocketConnection connection, Throwable failure) {
        LOG.debugf("connection %s failed: %s", connection.id(), failure.toString());
        if (!connection.isClosed()) {
            connection.close().subscribe().with(v -> {}, t -> {});
        }
    }
}
