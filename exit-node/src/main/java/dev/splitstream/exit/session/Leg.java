package dev.splitstream.exit.session;

import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.FrameSink;

/**
 * One transport connection carrying a session's frames (a WebSocket today; the upstream or downstream half of a split
 * path later). A leg delivers inbound frames with {@link ExitSession#receive} and offers its outbound side as a sink.
 */
public interface Leg {
    /** Outbound side; the same instance for the leg's whole life (the session detaches it by identity). */
    FrameSink sink();

    /** Closes the transport connection (after frames already handed to the sink). Any thread. */
    void closeTransport(CloseCode code, String reason);
}
