package dev.splitstream.protocol;

import java.util.Arrays;

/** A shared secret (HMAC key). Redacts itself in {@link #toString()} so it cannot leak into logs. */
public record Secret(byte[] bytes) {
    /** Copies the key so later changes to the caller's array do not alter it. */
    public Secret {
        bytes = bytes.clone();
    }

    /** The secret from its UTF-8 text form (as configured in SPLITSTREAM_TOKEN). */
    public static Secret ofText(String text) {
        return new Secret(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** A copy of the key bytes. */
    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Secret s && java.security.MessageDigest.isEqual(bytes, s.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "Secret[<redacted>]";
    }
}
