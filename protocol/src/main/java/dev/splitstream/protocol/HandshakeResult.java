package dev.splitstream.protocol;

/**
 * What a completed handshake established, on either side.
 *
 * @param tokenId the token the client proved (NEW); for RESUME and JOIN the id the client claims, while the session key
 *     is what it proved: use the token id of the session it resumes
 * @param intent new session, resume or join
 * @param sessionId 16 bytes
 * @param version the protocol version in use
 * @param capabilities the features both sides agreed to ({@link Capabilities})
 * @param peerLastReceivedSeq last reliable sequence number the peer received (resend after it); 0 for new sessions
 * @param sessionKey key bound to this session, derived from the token secret and both nonces of the handshake that
 *     created the session; resume and join legs prove knowledge of it
 * @param maxPayload the server's maximum frame body, on both sides (the client announces none): the server sends DATA up
 *     to it, so a client must decode frames this large; the client sends no larger DATA
 * @param initialWindow the peer's initial stream window
 * @param frameKeys this leg's frame-protection keys, oriented for this side, when both sides agreed to
 *     {@link Capabilities#ENCRYPTED}; null otherwise
 */
public record HandshakeResult(
        String tokenId,
        Frame.Intent intent,
        byte[] sessionId,
        int version,
        int capabilities,
        long peerLastReceivedSeq,
        Secret sessionKey,
        int maxPayload,
        int initialWindow,
        FrameKeys frameKeys) {

    /** A result without frame protection. */
    public HandshakeResult(
            String tokenId,
            Frame.Intent intent,
            byte[] sessionId,
            int version,
            int capabilities,
            long peerLastReceivedSeq,
            Secret sessionKey,
            int maxPayload,
            int initialWindow) {
        this(
                tokenId,
                intent,
                sessionId,
                version,
                capabilities,
                peerLastReceivedSeq,
                sessionKey,
                maxPayload,
                initialWindow,
                null);
    }

    /** True when this leg's session frames are sealed ({@link Capabilities#ENCRYPTED} agreed). */
    public boolean encrypted() {
        return frameKeys != null;
    }
}
