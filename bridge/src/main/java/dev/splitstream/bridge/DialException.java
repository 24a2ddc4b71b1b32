package dev.splitstream.bridge;

import dev.splitstream.protocol.ResetCode;

/** A target could not be dialed; carries the RESET code and the message sent to the entry node. */
public class DialException extends RuntimeException {
    private final ResetCode code;

    public DialException(ResetCode code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    public ResetCode code() {
        return code;
    }
}
