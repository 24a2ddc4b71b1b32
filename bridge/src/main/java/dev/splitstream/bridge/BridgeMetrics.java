package dev.splitstream.bridge;

/**
 * What a {@link SocketBridge} reports, so each node can count it with its own metrics library. Called on the socket's
 * event loop; implementations must be cheap and thread-safe.
 */
public interface BridgeMetrics {
    /** Counts nothing. */
    BridgeMetrics NONE = new BridgeMetrics() {};

    /** A bridged connection started (its socket is open). */
    default void connectionOpened() {}

    /** A bridged connection's socket closed. */
    default void connectionClosed() {}

    /** {@code bytes} were read from the socket and handed to the stream. */
    default void bytesFromSocket(int bytes) {}

    /** {@code bytes} from the stream were written to the socket. */
    default void bytesToSocket(int bytes) {}
}
