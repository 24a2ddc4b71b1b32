package dev.splitstream.bridge;

import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import dev.splitstream.protocol.StreamHandler;

/**
 * The stream side of a connection that asked for a stream to be opened (a local client on the entry node, a public-port
 * client on the exit node). Whoever opens the stream (a session, or a queue waiting for one) calls these on the
 * stream's session thread.
 */
public interface StreamEndpoint extends StreamHandler {
    /** The stream was opened (not yet accepted: see {@link #onAccepted}). */
    void onOpen(Stream stream);

    /** No stream could be opened: no session in time, the session refused, or the peer is gone. */
    void onOpenFailed(ResetCode code, String message);

    /** True when the endpoint no longer needs the stream (its client went away while waiting). Any thread. */
    default boolean isAbandoned() {
        return false;
    }
}
