package dev.splitstream.protocol;

import java.nio.ByteBuffer;

/**
 * The only class that turns frames into bytes and back. Layout: a 20-byte big-endian header (version u8, type u8, flags
 * u8, reserved u8, stream id u32, sequence u64, body length u32) followed by the body; see docs/PROTOCOL.md.
 *
 * <p>Decoding checks every length against {@link Limits} before allocating anything and reports every kind of bad
 * input as a {@link ProtocolException}. DATA payloads are returned as slices of the input, not copies.
 */
public final class FrameCodec {
    /** Size of the fixed header in bytes. */
    public static final int HEADER_LENGTH = 20;

    /** Protocol versions this implementation speaks. */
    public static final int MIN_VERSION = 1;

    /** Protocol versions this implementation speaks. */
    public static final int MAX_VERSION = 1;

    private final Limits limits;

    /** A codec enforcing the given limits. */
    public FrameCodec(Limits limits) {
        this.limits = limits;
    }

    /** The limits this codec enforces. */
    public Limits limits() {
        return limits;
    }

    /** The exact number of bytes {@link #encode(Frame, ByteBuffer)} writes for this frame. */
    public int encodedLength(Frame frame) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Encodes a frame into a new heap buffer, flipped for reading. */
    public ByteBuffer encode(Frame frame) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Encodes a frame at {@code out}'s position, advancing it. */
    public void encode(Frame frame, ByteBuffer out) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Decodes exactly one frame that fills {@code message} (a WebSocket binary message carries one frame).
     *
     * @throws ProtocolException if the bytes are not exactly one valid frame
     */
    public Frame decodeMessage(ByteBuffer message) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Decodes the next frame from a byte stream (an HTTP body carrying many frames back to back). Returns null and
     * leaves {@code in}'s position unchanged when fewer bytes than one whole frame are available; otherwise advances
     * past the frame.
     *
     * @throws ProtocolException on malformed input, as soon as the header shows it
     */
    public Frame decodeNext(ByteBuffer in) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
