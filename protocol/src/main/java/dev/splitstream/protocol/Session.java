package dev.splitstream.protocol;

import java.util.function.LongSupplier;

/**
 * A multiplexed session between an entry node (client) and an exit node (server), independent of any transport.
 *
 * <p>The transport feeds inbound frames to {@link #receive(Frame)} and gives the session a {@link FrameSink} for
 * outbound frames with {@link #attach}. A session outlives its transports: when a connection drops the transport calls
 * {@link #detach}; reliable frames stay buffered (bounded by {@link Limits#maxUnacked()}) until a new connection is
 * attached, then everything after the peer's last received sequence number is resent, so open streams carry on without
 * loss or duplication.
 *
 * <p>Not thread-safe: every call, and every callback, happens on one thread (a Vert.x context in the nodes).
 */
public final class Session {

    /** Which end of the session this is. The client opens odd stream ids, the server even ones. */
    public enum Role {
        CLIENT,
        SERVER
    }

    /**
     * A session established by a completed handshake.
     *
     * @param nanoClock monotonic clock for RTT and idle accounting (System::nanoTime in production)
     */
    public Session(
            Role role, HandshakeResult established, Limits limits, SessionListener listener, LongSupplier nanoClock) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** The 16-byte session id. */
    public byte[] id() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** The session id as 32 lowercase hex digits, for logs, registries and routing (not a secret). */
    public String idHex() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** The session key, for proving RESUME and JOIN handshakes. */
    public Secret sessionKey() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Connects an outbound path. Resends every reliable frame after {@code peerLastReceivedSeq} (from the handshake of
     * the new connection), then sends new frames there. Replaces any sink attached before.
     *
     * @throws ProtocolException if the peer claims a sequence this side never sent, or one already discarded
     */
    public void attach(FrameSink sink, long peerLastReceivedSeq) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** The outbound path is gone; frames wait (bounded) for the next {@link #attach}. No-op if {@code sink} is not attached. */
    public void detach(FrameSink sink) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** True while an outbound path is attached. */
    public boolean isAttached() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Handles one inbound frame. Duplicates of reliable frames already received (after a resend) are ignored; a gap, a
     * frame for an unknown stream or a window violation is a ProtocolException, after which the session is closed.
     */
    public void receive(Frame frame) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Last reliable sequence number received; a resumed connection presents it in its handshake. */
    public long lastReceivedSeq() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Opens a stream to {@code host:port} on the peer's side. Writes are accepted once the peer accepted (see
     * {@link StreamHandler#onAccepted}).
     *
     * @throws ProtocolException LIMIT_EXCEEDED when {@link Limits#maxStreams()} streams are open, or the session is closed
     */
    public Stream open(String host, int port, StreamHandler handler) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Sends a PING; the matching PONG updates {@link #rttNanos()} and calls {@link SessionListener#onRtt}. */
    public void ping() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Smoothed round-trip time in nanoseconds, or -1 before the first pong. */
    public long rttNanos() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Nanoseconds since the last frame arrived (for idle and ping timeouts). */
    public long nanosSinceLastReceive() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Sends an ACK now if any reliable frame arrived since the last one. Transports call it on a short timer. */
    public void flushAck() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Number of open streams. */
    public int streamCount() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Bytes of DATA payload sent and received so far, and frames resent after reconnects. */
    public SessionStats stats() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Closes the session: resets every stream, sends CLOSE if attached, calls {@link SessionListener#onClosed}. */
    public void close(CloseCode code, String message) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** True once closed by either side. */
    public boolean isClosed() {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
