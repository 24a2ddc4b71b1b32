package dev.splitstream.protocol;

/**
 * Malformed, truncated, oversized, unknown or out-of-order input, or a refused handshake. The only exception type the
 * protocol throws for bad peer input; the message says what was wrong and never contains secrets.
 */
public class ProtocolException extends Exception {
    private final CloseCode code;

    /** A protocol error with {@link CloseCode#PROTOCOL_ERROR}. */
    public ProtocolException(String message) {
        this(CloseCode.PROTOCOL_ERROR, message);
    }

    /** A protocol error carrying the close code to send to the peer. */
    public ProtocolException(CloseCode code, String message) {
        super(message);
        this.code = code;
    }

    /** The close code that describes this error on the wire. */
    public CloseCode code() {
        return code;
    }
}
