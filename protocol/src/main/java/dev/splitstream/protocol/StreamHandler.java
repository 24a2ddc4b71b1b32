package dev.splitstream.protocol;

import java.nio.ByteBuffer;

/** Receives the events of one stream, on the session's thread. */
public interface StreamHandler {
    /** The peer accepted a stream this side opened (its target is connected); data may now flow. */
    default void onAccepted(Stream stream) {}

    /**
     * Bytes arrived. Call {@link Stream#consumed(int)} once they are handed on (e.g. written to the local socket) so the
     * peer gets credit to send more; until then they count against the stream's receive window.
     */
    void onData(Stream stream, ByteBuffer data);

    /** The peer half-closed its sending side; no more data will arrive. */
    void onFin(Stream stream);

    /** The stream was aborted by the peer or by the session (session closed, flow-control violation). */
    void onReset(Stream stream, ResetCode code, String message);

    /** The stream can take more data after {@link Stream#write} returned false. */
    default void onWritable(Stream stream) {}

    /**
     * The peer acknowledged {@code bytes} of data written to this stream: the session no longer keeps them for resending
     * (a {@link BufferBudget} lease can release them). Not called for bytes still unacknowledged when the stream ends.
     */
    default void onAcknowledged(Stream stream, int bytes) {}

    /**
     * The stream's receive window would grow by {@code wanted} bytes (auto-tuning: the window limits throughput).
     * Returns how many of them it may grow, {@code 0..wanted}: credit granted is credit the peer may use, so a handler
     * that holds arrived bytes in a bounded {@link BufferBudget} grants only what the budget can back
     * ({@link BufferBudget.Lease#growWindow}). The default grants all of it.
     */
    default int growWindow(Stream stream, int wanted) {
        return wanted;
    }
}
