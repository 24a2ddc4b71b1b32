package dev.splitstream.protocol;

/**
 * What a completed handshake established, on either side.
 *
 * @param tokenId the token the client proved
 * @param intent new session, resume or join
 * @param sessionId 16 bytes
 * @param version the protocol version in use
 * @param capabilities the features both sides agreed to ({@link Capabilities})
 * @param peerLastReceivedSeq last reliable sequence number the peer received (resend after it); 0 for new sessions
 * @param sessionKey key bound to this session, derived from the token secret and both nonces of the handshake that
 *     created the session; resume and join legs prove knowledge of it
 * @param maxPayload the peer's maximum frame body (server side: the client's request is not negotiated; client side:
 *     from the welcome)
 * @param initialWindow the peer's initial stream window
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
        int initialWindow) {}
