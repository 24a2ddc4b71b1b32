package dev.splitstream.protocol;

/** Why a stream was reset. Wire codes are stable. */
public enum ResetCode {
    /** Unspecified failure. */
    INTERNAL(1),
    /** The target is not in the allow-list of this token. */
    NOT_ALLOWED(2),
    /** The target refused the connection or could not be reached. */
    CONNECT_FAILED(3),
    /** The target host name did not resolve. */
    UNKNOWN_HOST(4),
    /** Dialing the target took too long. */
    TIMEOUT(5),
    /** Too many streams open on this session. */
    TOO_MANY_STREAMS(6),
    /** The peer sent more than its window allowed, or otherwise broke the stream's rules. */
    FLOW_CONTROL(7),
    /** The local application closed the stream abruptly (e.g. the client socket was reset). */
    CANCELLED(8),
    /** The session is closing. */
    SESSION_CLOSED(9);

    /** Wire code. */
    public final int code;

    ResetCode(int code) {
        this.code = code;
    }
}
