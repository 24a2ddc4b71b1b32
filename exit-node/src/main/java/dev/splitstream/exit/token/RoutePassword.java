package dev.splitstream.exit.token;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;

/**
 * The Basic password that HTTP clients must give to reach a token's agents through routes. Only its SHA-256 digest is
 * kept (as {@code RouteTokens} keeps route tokens), compared in constant time; it never prints itself.
 */
public final class RoutePassword {
    private final byte[] digest;

    private RoutePassword(byte[] digest) {
        this.digest = digest;
    }

    /** The password {@code text} (kept only as its digest). */
    public static RoutePassword of(String text) {
        return new RoutePassword(sha256(text.getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * True when {@code authorization} (an HTTP {@code Authorization} header, may be null) is {@code Basic} with this
     * password; the user name is not checked.
     */
    public boolean admits(String authorization) {
        if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
            return false;
        }
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(authorization.substring(6).trim());
        } catch (IllegalArgumentException e) {
            return false;
        }
        int colon = -1;
        for (int i = 0; i < decoded.length; i++) {
            if (decoded[i] == ':') {
                colon = i;
                break;
            }
        }
        if (colon < 0) {
            return false;
        }
        byte[] given = sha256(Arrays.copyOfRange(decoded, colon + 1, decoded.length));
        Arrays.fill(decoded, (byte) 0);
        return MessageDigest.isEqual(given, digest);
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RoutePassword p && MessageDigest.isEqual(p.digest, digest);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(digest);
    }

    @Override
    public String toString() {
        return "RoutePassword[<redacted>]";
    }
}
