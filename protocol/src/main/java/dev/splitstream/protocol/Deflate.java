package dev.splitstream.protocol;

import java.util.zip.Deflater;

/**
 * Settings for per-frame compression of DATA payloads ({@link Capabilities#DEFLATE}): a payload of at least
 * {@code threshold} bytes is compressed at {@code level} when that makes it smaller, and sent with the COMPRESSED flag.
 * Use with {@link FrameCodec#withDeflate(Deflate)} on a connection whose handshake agreed to DEFLATE.
 *
 * @param level zlib level, 1 (fastest) to 9 (smallest), or -1 for zlib's default (6)
 * @param threshold smallest payload worth compressing, bytes (default 512)
 */
public record Deflate(int level, int threshold) {

    /** Validates the values. */
    public Deflate {
        if (level != Deflater.DEFAULT_COMPRESSION && (level < 1 || level > 9)) {
            throw new IllegalArgumentException("deflate level must be 1..9 or -1, was " + level);
        }
        if (threshold < 1) {
            throw new IllegalArgumentException("deflate threshold must be positive, was " + threshold);
        }
    }

    /** Level 1 (fast; tunnelled traffic is often already compressed) and a 512-byte threshold. */
    public static Deflate defaults() {
        return new Deflate(1, 512);
    }
}
