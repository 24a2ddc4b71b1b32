package dev.splitstream.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** HMAC-SHA256 over a domain label and byte pieces, and the key derivations of the handshake. */
final class Hmac {
    /** Label of the client's proof. */
    static final String CLIENT_PROOF = "splitstream client proof";
    /** Label of the server's proof. */
    static final String SERVER_PROOF = "splitstream server proof";
    /** Label of the session key derivation. */
    static final String SESSION_KEY = "splitstream session key";

    private Hmac() {}

    /** HMAC-SHA256(key, label || 0x00 || pieces...). */
    static byte[] mac(Secret key, String label, byte[]... pieces) {
        byte[] k = key.bytes();
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(k, "HmacSHA256"));
            mac.update(label.getBytes(StandardCharsets.US_ASCII));
            mac.update((byte) 0);
            for (byte[] p : pieces) {
                mac.update(p);
            }
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        } finally {
            java.util.Arrays.fill(k, (byte) 0);
        }
    }

    /** Constant-time comparison. */
    static boolean equal(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }

    /** Exact bytes of a frame as sent, for the transcript. */
    static byte[] bytes(FrameCodec codec, Frame frame) {
        ByteBuffer b = codec.encode(frame);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /** The session key of a NEW session. */
    static Secret sessionKey(Secret tokenSecret, byte[] clientNonce, byte[] serverNonce, byte[] sessionId) {
        return new Secret(mac(tokenSecret, SESSION_KEY, clientNonce, serverNonce, sessionId));
    }

    /** The fields of a WELCOME the server's proof covers (everything but the proof itself). */
    static byte[] welcomeFields(byte[] sessionId, long lastReceivedSeq, int maxPayload, int initialWindow) {
        return ByteBuffer.allocate(FrameCodec.SESSION_ID_LENGTH + 16)
                .put(sessionId)
                .putLong(lastReceivedSeq)
                .putInt(maxPayload)
                .putInt(initialWindow)
                .array();
    }

    /** Lowercase hex. */
    static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            sb.append(Character.forDigit((b >> 4) & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
        }
        return sb.toString();
    }
}
