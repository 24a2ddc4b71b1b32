package dev.splitstream.protocol;

import java.nio.ByteBuffer;

/**
 * One multiplexed, flow-controlled, bidirectional byte stream of a {@link Session}. Confined to the session's thread.
 */
public final class Stream {
    Stream() {}

    /** Stream id: odd when the client opened it, even when the server did. */
    public int id() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Target host the opener asked for. */
    public String host() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Target port the opener asked for. */
    public int port() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** The session this stream belongs to. */
    public Session session() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** For a stream the peer opened: its target is connected; start exchanging data with this handler. */
    public void accept(StreamHandler handler) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Queues bytes for the peer; the session takes ownership of {@code data}'s content (do not modify it afterwards).
     * Bytes go out as the peer's window and the session's resend buffer allow.
     *
     * @return false when the caller should stop producing (pause its socket) until {@link StreamHandler#onWritable}
     */
    public boolean write(ByteBuffer data) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** True when {@link #write} would accept more without queueing beyond the window. */
    public boolean isWritable() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Half-closes this side: after queued data, a FIN; the peer may still send. */
    public void finish() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Aborts the stream both ways and tells the peer why. Idempotent. */
    public void reset(ResetCode code, String message) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Returns {@code bytes} of receive credit after the application handed on data from {@link StreamHandler#onData}. */
    public void consumed(int bytes) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
