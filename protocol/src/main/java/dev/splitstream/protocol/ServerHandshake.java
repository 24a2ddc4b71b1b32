package dev.splitstream.protocol;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.Optional;

/**
 * The server side of the handshake for one connection: CHALLENGE on HELLO, WELCOME on a valid PROOF. Refusals are
 * {@link ProtocolException}s whose {@link ProtocolException#code()} and message go into the CLOSE frame sent back.
 */
public final class ServerHandshake {

    /** Looks up the session key of an existing session (for RESUME and JOIN). */
    @FunctionalInterface
    public interface SessionKeys {
        /** The key of the session with this id, held by the caller, or empty when unknown. */
        Optional<Secret> keyFor(byte[] sessionId);
    }

    /**
     * @param tokens token id to secret
     * @param sessions session id to session key, for RESUME/JOIN
     * @param replay nonces seen recently (shared by all connections of a node)
     * @param limits sizes and clock skew
     */
    public ServerHandshake(
            TokenStore tokens,
            SessionKeys sessions,
            ReplayGuard replay,
            Limits limits,
            int serverCapabilities,
            Clock clock,
            SecureRandom random) {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /** Checks version, timestamp, replay and token id; returns the challenge to send. */
    public Frame.Challenge onHello(Frame frame) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * Verifies the proof (constant time). For NEW the returned result has a fresh random session id and a derived
     * session key; for RESUME/JOIN it names the existing session. {@link HandshakeResult#peerLastReceivedSeq()} is what
     * the client says it received.
     */
    public HandshakeResult onProof(Frame frame) throws ProtocolException {
        throw new UnsupportedOperationException("not implemented yet");
    }

    /**
     * The WELCOME to send after {@link #onProof}: carries the server's own proof and {@code lastReceivedSeq}, the last
     * reliable sequence number the server received on this session (0 for new sessions).
     */
    public Frame.Welcome welcome(long lastReceivedSeq) {
        throw new UnsupportedOperationException("not implemented yet");
    }
}
