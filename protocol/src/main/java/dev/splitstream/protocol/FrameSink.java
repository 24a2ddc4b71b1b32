package dev.splitstream.protocol;

/**
 * Where a session sends its outbound frames: a transport connection (a WebSocket, the downstream leg of a split path,
 * an HTTP response stream). The transport encodes frames with {@link FrameCodec}. Called on the session's thread; must
 * not block. The amount a sink is handed is bounded by the session's unacknowledged-bytes limit.
 */
@FunctionalInterface
public interface FrameSink {
    /** Sends one frame. Ownership of a DATA payload passes to the sink until it is written. */
    void send(Frame frame);
}
