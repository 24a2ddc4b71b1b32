package dev.splitstream.exit.transport.ws;

import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.http.WebSocketBase;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import org.jboss.logging.Logger;

/**
 * The Vert.x WebSocket under a websockets-next connection. websockets-next sends through a {@code Uni} per message
 * (with context propagation on each), gives no write-queue signal, and delivers binary messages through Vert.x's
 * aggregator (one more copy of each); its connection keeps the Vert.x {@link WebSocketBase} behind a package-private
 * {@code webSocket()} method, which this reads once per connection. If a later Quarkus renames it, {@link #of} answers
 * null, the leg falls back to the public API, and a warning says so.
 *
 * <p>An upgrade that went through a Vert.x Web router (the exit's HTTP routes and connection limits are router routes)
 * hands websockets-next a {@code ServerWebSocketWrapper}, which is not a {@code WebSocketInternal}: its Netty channel
 * is out of reach, so {@code WebSocketWriter.of} refused it and every frame went out through the {@code Uni} API, one
 * flush and one context capture each (a third of the exit's CPU per route request). {@link #of} unwraps it (its
 * private {@code delegate}, read once per connection).
 */
final class UnderlyingWebSocket {
    private static final Logger LOG = Logger.getLogger(UnderlyingWebSocket.class);
    private static final Method WEB_SOCKET = find();
    private static final String WRAPPER = "io.vertx.ext.web.impl.ServerWebSocketWrapper";
    private static final Field WRAPPED = findWrapped();

    private UnderlyingWebSocket() {}

    private static Method find() {
        try {
            Class<?> base = Class.forName("io.quarkus.websockets.next.runtime.WebSocketConnectionBase");
            Method m = base.getDeclaredMethod("webSocket");
            m.setAccessible(true);
            return m;
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.warnf("websockets-next hides its Vert.x WebSocket (%s): frames go out one flush each", e.toString());
            return null;
        }
    }

    private static Field findWrapped() {
        try {
            Field f = Class.forName(WRAPPER).getDeclaredField("delegate");
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.warnf(
                    "Vert.x Web hides the WebSocket under its wrapper (%s): frames go out one flush each",
                    e.toString());
            return null;
        }
    }

    /** The connection's Vert.x WebSocket (under Vert.x Web's wrapper, if any), or null when it cannot be reached. */
    static WebSocketBase of(WebSocketConnection connection) {
        if (WEB_SOCKET == null || !WEB_SOCKET.getDeclaringClass().isInstance(connection)) {
            return null;
        }
        try {
            Object ws = WEB_SOCKET.invoke(connection);
            if (WRAPPED != null && WRAPPED.getDeclaringClass().isInstance(ws)) {
                ws = WRAPPED.get(ws);
            }
            return ws instanceof WebSocketBase base ? base : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debugf("cannot reach the Vert.x WebSocket of %s: %s", connection.id(), e.toString());
            return null;
        }
    }
}
