package dev.splitstream.protocol;

import java.security.SecureRandom;
import java.time.Clock;

/**
 * The client side of the handshake: HELLO, then PROOF on CHALLENGE, then verification of the server's WELCOME.
 *
 * <p>For a NEW session the proof is keyed by the token secret; for RESUME and JOIN it is keyed by the session key of
 * the earlier handshake, so knowing a session id alone never lets anyone join or resume a session. The secret never
 * crosses the wire.
 */
public final class ClientHandshake {

    /**
     * @param tokenId token id sent in clear
     * @param key the token secret (NEW) or the session key (RESUME, JOIN_*)
     * @param intent what the client asks for
     * @param sessionId for RESUME/JOIN the session's id, else null
     * @param lastReceivedSeq for RESUME/JOIN the last reliable sequence received, else 0
     * @param capabilities features the client would like ({@link Capabilities})
     */
    public ClientHandshake(
            String tokenId,
            Secret key,
            Frame.Intent intent,
            byte[] sessionId,
            long lastReceivedSeq,
            int capabilities,
            Clock clock,
            SecureRandom random) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** The HELLO to send first. */
    public Frame.Hello hello() {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Answers the server's challenge. A CLOSE instead of a challenge is reported as a ProtocolException. */
    public Frame.Proof onChallenge(Frame frame) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Verifies the server's WELCOME (its own proof) and returns what was established. */
    public HandshakeResult onWelcome(Frame frame) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
