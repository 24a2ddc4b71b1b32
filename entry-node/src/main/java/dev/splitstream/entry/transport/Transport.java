package dev.splitstream.entry.transport;

import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import io.vertx.core.Future;
import java.nio.ByteBuffer;

/**
 * A way to reach the exit node that moves encoded frames and nothing else: the session manager runs the handshake,
 * resume and the split-path joins over whatever {@link Connection} a transport opens.
 */
public interface Transport {
    /** Header naming the session on every request once its id is known (ingress affinity; never the key). */
    String SESSION_HEADER = "X-Splitstream-Session";

    /** Transport name for logs, metrics and health: {@code websocket}. */
    String name();

    /** Where it connects to, without credentials. */
    String display();

    /**
     * Opens a connection. Call it on the session's context: the handler then runs on that context's event loop.
     *
     * @param sessionIdHex the session's id once known (sent as {@link #SESSION_HEADER}), else null
     */
    Future<Connection> connect(String sessionIdHex, Direction direction, Handler handler);

    /** Which frames a connection carries. */
    enum Direction {
        /** Both directions (a single connection). */
        BOTH,
        /** Entry to exit only (split path upstream leg). */
        UP,
        /** Exit to entry only (split path downstream leg). */
        DOWN
    }

    /** Releases the transport's clients. */
    Future<Void> close();

    /** One connection to the exit node. */
    interface Connection {
        /** Sends one encoded frame. */
        void send(ByteBuffer frame);

        /** Encodes {@code frame} with {@code codec} and sends it (a transport may encode into its own buffers). */
        default void send(Frame frame, FrameCodec codec) {
            send(codec.encode(frame));
        }

        /**
         * True while the outbound buffer is over its limit (a WebSocket's channel above its high-water mark, an HTTP
         * leg's queue of frames waiting for a POST above four batches). Once it is false again the connection calls
         * {@link Handler#onDrained()}.
         */
        boolean writeQueueFull();

        /** The transport's name for this connection now (an HTTP leg moves from stream to poll mode). */
        String name();

        /** Closes the connection; the handler is not called any more. */
        Future<Void> close(String reason);

        /**
         * Closes the connection once what was sent has left (the session's last frame, its close, must reach the exit),
         * at most {@code maxMillis} later; the handler is not called any more. A transport whose own close already
         * sends what is queued first (a WebSocket's close frame follows its data) just closes.
         */
        default Future<Void> closeAfterSending(String reason, long maxMillis) {
            return close(reason);
        }
    }

    /** What a connection reports, on the session's context. */
    interface Handler {
        /** One encoded frame arrived. */
        void onFrame(ByteBuffer frame);

        /** The connection is gone (closed by the peer, an error, a protocol violation of the transport). */
        void onFailed(String reason);

        /** The session's id once known (for {@link #SESSION_HEADER} on later requests of the connection), else null. */
        default String sessionIdHex() {
            return null;
        }

        /** The last reliable sequence number the session received (where an HTTP downstream request resumes). */
        default long lastReceivedSeq() {
            return 0;
        }

        /**
         * Frames sent on this connection may be lost: the exit node received up to {@code peerLastReceivedSeq}. The
         * session resends what follows (HTTP upstream batches whose POST failed).
         */
        default void onUpstreamLost(long peerLastReceivedSeq) {}

        /** An HTTP downstream path buffers responses: the connection moved to poll mode. */
        default void onModeChanged(String name, String why) {}

        /** The outbound buffer went below its limit after {@link Connection#writeQueueFull()} was true. Any thread. */
        default void onDrained() {}
    }
}
