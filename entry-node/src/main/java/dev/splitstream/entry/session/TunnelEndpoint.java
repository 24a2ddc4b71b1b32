package dev.splitstream.entry.session;

import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import dev.splitstream.protocol.StreamHandler;

/** The session side of one local connection. Every method runs on the session's context. */
public interface TunnelEndpoint extends StreamHandler {
    /** The stream was opened (not yet accepted: see {@link #onAccepted}). */
    void onOpen(Stream stream);

    /** No stream could be opened: no session in time, or the session refused (too many streams). */
    void onOpenFailed(ResetCode code, String message);
}
