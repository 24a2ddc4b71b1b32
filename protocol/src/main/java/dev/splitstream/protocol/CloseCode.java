package dev.splitstream.protocol;

/** Why a session ended or a handshake was refused. Wire codes are stable. */
public enum CloseCode {
    /** Orderly shutdown. */
    NORMAL(0),
    /** Proof did not verify, unknown token id, or a join/resume without a valid proof. */
    AUTH_FAILED(1),
    /** No protocol version in common; the message says which side to upgrade. */
    VERSION_MISMATCH(2),
    /** The hello's timestamp is outside the accepted clock skew. */
    STALE(3),
    /** The hello's nonce was already seen. */
    REPLAY(4),
    /** The peer sent malformed or unexpected frames. */
    PROTOCOL_ERROR(5),
    /** A limit was exceeded (sessions, buffers, sizes). */
    LIMIT_EXCEEDED(6),
    /** No traffic or no pong within the allowed time. */
    TIMEOUT(7),
    /** Resume or join named a session the server does not hold. */
    UNKNOWN_SESSION(8),
    /** The node is shutting down. */
    GOING_AWAY(9),
    /** One side encrypts frames and the other does not (SPLITSTREAM_ENCRYPTION); the message says which to change. */
    ENCRYPTION_MISMATCH(10);

    /** Wire code. */
    public final int code;

    CloseCode(int code) {
        this.code = code;
    }
}
