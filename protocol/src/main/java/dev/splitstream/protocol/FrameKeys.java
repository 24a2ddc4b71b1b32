package dev.splitstream.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The two frame-protection keys of one leg, as seen from one side: {@code send} seals what this side sends,
 * {@code receive} opens what the peer sends. Derived with HKDF-SHA256 (RFC 5869) from the session key and the exact
 * HELLO and CHALLENGE of the leg's handshake (docs/PROTOCOL.md section 12):
 *
 * <pre>
 * prk     = HKDF-Extract(salt = SHA-256(HELLO ‖ CHALLENGE), ikm = sessionKey)
 * c2s     = HKDF-Expand(prk, "splitstream v2 client to server", 32)
 * s2c     = HKDF-Expand(prk, "splitstream v2 server to client", 32)
 * epochKey(k, e) = HKDF-Expand(k, "splitstream v2 epoch" ‖ u64 e, 32)
 * </pre>
 *
 * @param send key of this side's direction
 * @param receive key of the peer's direction
 */
public record FrameKeys(Secret send, Secret receive) {
    static final String CLIENT_TO_SERVER = "splitstream v2 client to server";
    static final String SERVER_TO_CLIENT = "splitstream v2 server to client";
    static final String EPOCH = "splitstream v2 epoch";

    /** Redacts both keys. */
    @Override
    public String toString() {
        return "FrameKeys[<redacted>]";
    }

    /** The keys of a leg whose handshake sent {@code transcript} (HELLO ‖ CHALLENGE), for the client or the server. */
    static FrameKeys derive(Secret sessionKey, byte[] transcript, boolean client) {
        byte[] prk = hmac(sha256(transcript), sessionKey.bytes());
        Secret c2s = new Secret(expand(prk, CLIENT_TO_SERVER.getBytes(StandardCharsets.US_ASCII)));
        Secret s2c = new Secret(expand(prk, SERVER_TO_CLIENT.getBytes(StandardCharsets.US_ASCII)));
        java.util.Arrays.fill(prk, (byte) 0);
        return client ? new FrameKeys(c2s, s2c) : new FrameKeys(s2c, c2s);
    }

    /** The AES key of epoch {@code epoch} of a direction whose base key is {@code base}. */
    static byte[] epochKey(byte[] base, long epoch) {
        byte[] label = EPOCH.getBytes(StandardCharsets.US_ASCII);
        return expand(
                base,
                ByteBuffer.allocate(label.length + 8).put(label).putLong(epoch).array());
    }

    /** HKDF-Expand with SHA-256 for a 32-byte output: HMAC(prk, info ‖ 0x01). */
    private static byte[] expand(byte[] prk, byte[] info) {
        byte[] in = ByteBuffer.allocate(info.length + 1).put(info).put((byte) 1).array();
        return hmac(prk, in);
    }

    private static byte[] hmac(byte[] key, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    private static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }
}
