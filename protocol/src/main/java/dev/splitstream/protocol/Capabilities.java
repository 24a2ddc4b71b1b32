package dev.splitstream.protocol;

/** Optional features negotiated in the handshake, as bits of {@link Frame.Hello#capabilities()}. */
public final class Capabilities {
    /** Per-frame deflate of DATA payloads (the DATA frame's COMPRESSED flag). */
    public static final int DEFLATE = 1;

    private Capabilities() {}
}
