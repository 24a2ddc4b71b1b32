package dev.splitstream.exit.session;

import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameSink;

/**
 * One transport connection carrying a session's frames: a WebSocket, or a plain-HTTP leg (its POSTs and GETs), full
 * duplex or one half of a split path. A leg delivers inbound frames with {@link ExitSession#receive} and offers its
 * outbound side as a sink.
 */
public interface Leg {
    /** Outbound side; the same instance for the leg's whole life (the session detaches it by identity). */
    FrameSink sink();

    /**
     * Delivers the handshake's WELCOME, before any session frame. On the session's context. A WebSocket sends it like
     * any frame; an HTTP leg answers its pending handshake request with it.
     */
    default void welcome(Frame.Welcome welcome) {
        sink().send(welcome);
    }

    /** Transport name for the registry and audit log: {@code websocket} or {@code http}. */
    default String transportName() {
        return "unknown";
    }

    /** Address of the client's end of this leg (for a relayed leg, the client of the relaying replica), or null. */
    default String remoteAddress() {
        return null;
    }

    /** Closes the transport connection (after frames already handed to the sink). Any thread. */
    void closeTransport(CloseCode code, String reason);
}
