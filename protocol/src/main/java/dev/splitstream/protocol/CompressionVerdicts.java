package dev.splitstream.protocol;

import java.util.HashMap;
import java.util.Map;

/**
 * Remembers, per stream, whether its DATA compresses: after {@link #MISSES_TO_STOP} payloads in a row that deflate
 * saved less than a tenth of, the stream is sent uncompressed for the next {@link #SKIP_FRAMES} payloads, then tried
 * again (a stream's content may change, e.g. a TLS handshake's certificates then encrypted records). Spares the deflate
 * attempt on streams that carry already-compressed or encrypted data. Bounded: at most {@link #MAX_TRACKED} streams.
 * Confined to one thread, like the session that encodes with it.
 */
final class CompressionVerdicts {
    static final int MISSES_TO_STOP = 3;
    static final int SKIP_FRAMES = 256;
    static final int MAX_TRACKED = 4096;

    /** Per stream: {consecutive misses, payloads still to send uncompressed}. */
    private final Map<Integer, int[]> streams = new HashMap<>();

    /** True when the next payload of this stream is worth a deflate attempt. */
    boolean shouldTry(int streamId) {
        int[] s = streams.get(streamId);
        if (s == null || s[1] == 0) {
            return true;
        }
        s[1]--;
        return false;
    }

    /** Records an attempt: {@code compressedLength} is the deflated size, or -1 when it was not smaller at all. */
    void record(int streamId, int length, int compressedLength) {
        boolean miss = compressedLength < 0 || compressedLength > length - length / 10;
        int[] s = streams.get(streamId);
        if (!miss) {
            if (s != null) {
                s[0] = 0;
            }
            return;
        }
        if (s == null) {
            if (streams.size() >= MAX_TRACKED) {
                streams.clear();
            }
            s = new int[2];
            streams.put(streamId, s);
        }
        if (++s[0] >= MISSES_TO_STOP) {
            s[0] = 0;
            s[1] = SKIP_FRAMES;
        }
    }
}
