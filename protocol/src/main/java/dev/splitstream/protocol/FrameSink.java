package dev.splitstream.protocol;

/**
 * Where a session sends its outbound frames: a transport connection (a WebSocket, the downstream leg of a split path,
 * an HTTP response stream). The transport encodes frames with {@link FrameCodec}. Called on the session's thread; must
 * not block. The amount a sink is handed is bounded by the session's unacknowledged-bytes limit.
 */
@FunctionalInterface
public interface FrameSink {
    /**
     * Sends one frame. A DATA payload is a view handed to the sink alone (it may consume its position); the bytes
     * behind it must not be modified, because the session keeps them to resend after a reconnect.
     */
    void send(Frame frame);

    /**
     * Payload bytes this sink's codec has sent deflated so far (see {@link FrameCodec#deflatedPayloadBytes()}); the
     * session's compression governor probes plain frames only while deflate actually compresses. 0 when the sink does
     * not compress.
     */
    default long deflatedPayloadBytes() {
        return 0;
    }
}
