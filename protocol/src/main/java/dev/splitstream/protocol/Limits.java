package dev.splitstream.protocol;

import java.time.Duration;

/**
 * Every size, count and time a peer controls has a limit; this record holds them. Checked before allocating.
 *
 * @param maxPayload largest frame body accepted or sent, bytes (default 64 KiB)
 * @param maxHostLength longest target host name in an OPEN frame, bytes of UTF-8 (default 255)
 * @param maxMessageLength longest reason text in RESET/CLOSE, bytes of UTF-8 (default 1024)
 * @param maxTokenIdLength longest token id in a HELLO, bytes of UTF-8 (default 128)
 * @param maxStreams most streams open at once on one session (default 1024)
 * @param initialWindow receive window granted to a new stream, bytes (default 256 KiB)
 * @param maxWindow largest receive window a stream may grow to (auto-tuning toward the bandwidth-delay product),
 *     bytes (default 16 MiB)
 * @param maxUnacked most bytes of reliable frames kept for resending until the peer acknowledges them; the session
 *     stops sending stream data while it is full (default 32 MiB)
 * @param clockSkew how far a hello's timestamp may differ from the server clock (default 2 minutes)
 */
public record Limits(
        int maxPayload,
        int maxHostLength,
        int maxMessageLength,
        int maxTokenIdLength,
        int maxStreams,
        int initialWindow,
        int maxWindow,
        long maxUnacked,
        Duration clockSkew) {

    /** Absolute ceiling on any frame body, whatever the configuration: 16 MiB. */
    public static final int HARD_MAX_PAYLOAD = 16 * 1024 * 1024;

    /** Validates the values. */
    public Limits {
        if (maxPayload < 1024 || maxPayload > HARD_MAX_PAYLOAD) {
            throw new IllegalArgumentException("maxPayload must be 1024.." + HARD_MAX_PAYLOAD + ", was " + maxPayload);
        }
        if (initialWindow < 1 || maxWindow < initialWindow) {
            throw new IllegalArgumentException("need 0 < initialWindow <= maxWindow");
        }
        if (maxStreams < 1) {
            throw new IllegalArgumentException("maxStreams must be positive");
        }
        if (maxUnacked < maxPayload) {
            throw new IllegalArgumentException("maxUnacked must be at least maxPayload");
        }
    }

    /** The defaults listed above. */
    public static Limits defaults() {
        return new Limits(
                64 * 1024,
                255,
                1024,
                128,
                1024,
                256 * 1024,
                16 * 1024 * 1024,
                32L * 1024 * 1024,
                Duration.ofMinutes(2));
    }

    /** A copy with another maximum payload. */
    public Limits withMaxPayload(int value) {
        return new Limits(
                value,
                maxHostLength,
                maxMessageLength,
                maxTokenIdLength,
                maxStreams,
                initialWindow,
                maxWindow,
                Math.max(maxUnacked, value),
                clockSkew);
    }

    /** A copy with another stream limit. */
    public Limits withMaxStreams(int value) {
        return new Limits(
                maxPayload,
                maxHostLength,
                maxMessageLength,
                maxTokenIdLength,
                value,
                initialWindow,
                maxWindow,
                maxUnacked,
                clockSkew);
    }

    /** A copy with other windows. */
    public Limits withWindows(int initial, int max) {
        return new Limits(
                maxPayload,
                maxHostLength,
                maxMessageLength,
                maxTokenIdLength,
                maxStreams,
                initial,
                max,
                maxUnacked,
                clockSkew);
    }
}
