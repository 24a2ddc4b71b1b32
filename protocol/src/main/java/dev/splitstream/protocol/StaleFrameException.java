package dev.splitstream.protocol;

/**
 * An authentic-looking SEALED envelope whose counter is not above the last one accepted on its leg: a replay, a
 * reordering, or (on the plain-HTTP transport only) a late copy of an upstream batch the entry node already sent again.
 * The envelope was not opened and changed nothing. A byte-stream reader that tolerates late batches may skip it
 * ({@link FrameCodec#decodeNext} has already moved past it); everywhere else it ends the session like any
 * authentication failure.
 */
public final class StaleFrameException extends ProtocolException {
    StaleFrameException(String message) {
        super(CloseCode.AUTH_FAILED, message);
    }
}
