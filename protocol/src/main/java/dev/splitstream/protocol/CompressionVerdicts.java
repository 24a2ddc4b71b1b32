package dev.splitstream.protocol;

import java.util.HashMap;
import java.util.Map;

/**
 * Remembers, per stream, whether its DATA compresses: after {@link #MISSES_TO_STOP} payloads in a row that deflate
 * saved less than a tenth of, the stream is sent uncompressed for the next {@link #SKIP_FRAMES} payloads, then tried
 * again (a stream's content may change, e.g. a TLS handshake's certificates then encrypted records). A stream that has
 * been skipped needs only one more miss to be skipped again, each time for twice as many payloads, up to {@link
 * #MAX_SKIP_FRAMES}; a payload that compresses starts it afresh. Spares the deflate attempt on streams that carry
 * already-compressed or encrypted data: with a fixed skip, an incompressible bulk stream still deflated 3 of every
 * 259 payloads, 5.5% of the sending event loop's time. Bounded: at most {@link #MAX_TRACKED} streams. Confined to one
 * thread, like the session that encodes with it.
 */
final class CompressionVerdicts {
    static final int MISSES_TO_STOP = 3;
    static final int SKIP_FRAMES = 256;
    static final int MAX_SKIP_FRAMES = 8192;
    static final int MAX_TRACKED = 4096;

    /** Per stream: {consecutive misses, payloads still to send uncompressed, the next skip's length (0: none yet)}. */
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
                s[2] = 0;
            }
            return;
        }
        if (s == null) {
            if (streams.size() >= MAX_TRACKED) {
                streams.clear();
            }
            s = new int[3];
            streams.put(streamId, s);
        }
        if (s[2] > 0 || ++s[0] >= MISSES_TO_STOP) {
            s[0] = 0;
            s[1] = s[2] > 0 ? s[2] : SKIP_FRAMES;
            s[2] = Math.min(s[1] * 2, MAX_SKIP_FRAMES);
        }
    }
}
