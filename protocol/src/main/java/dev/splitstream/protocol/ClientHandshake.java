package dev.splitstream.protocol;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.Arrays;
import java.util.Objects;

/**
 * The client side of the handshake: HELLO, then PROOF on CHALLENGE, then verification of the server's WELCOME.
 *
 * <p>For a NEW session the proof is keyed by the token secret; for RESUME and JOIN it is keyed by the session key of
 * the earlier handshake, so knowing a session id alone never lets anyone join or resume a session. The secret never
 * crosses the wire. Not thread-safe; one instance per connection attempt.
 */
public final class ClientHandshake {
    private final Secret key;
    private final Frame.Hello hello;
    private final Limits limits;
    private byte[] transcript;
    private Frame.Challenge challenge;
    private byte[] proof;
    private boolean done;

    /**
     * @param tokenId token id sent in clear
     * @param key the token secret (NEW) or the session key (RESUME, JOIN_*)
     * @param intent what the client asks for
     * @param sessionId for RESUME/JOIN the session's id, else null
     * @param lastReceivedSeq for RESUME/JOIN the last reliable sequence received, else 0
     * @param capabilities features the client would like ({@link Capabilities})
     * @param clock wall clock for the hello's timestamp
     * @param random source of the hello's nonce
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
        this(
                tokenId,
                key,
                intent,
                sessionId,
                lastReceivedSeq,
                capabilities,
                clock,
                random,
                FrameCodec.MIN_VERSION,
                FrameCodec.MAX_VERSION);
    }

    /** As the public constructor, with a version range other than this implementation's (for tests). */
    ClientHandshake(
            String tokenId,
            Secret key,
            Frame.Intent intent,
            byte[] sessionId,
            long lastReceivedSeq,
            int capabilities,
            Clock clock,
            SecureRandom random,
            int minVersion,
            int maxVersion) {
        Objects.requireNonNull(tokenId, "tokenId");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(intent, "intent");
        if (key.bytes().length == 0) {
            throw new IllegalArgumentException("the key is empty");
        }
        byte[] sid;
        if (intent == Frame.Intent.NEW) {
            sid = new byte[0];
            lastReceivedSeq = 0;
        } else {
            if (sessionId == null || sessionId.length != FrameCodec.SESSION_ID_LENGTH) {
                throw new IllegalArgumentException(intent + " needs the 16-byte session id");
            }
            if (lastReceivedSeq < 0) {
                throw new IllegalArgumentException("lastReceivedSeq must not be negative");
            }
            sid = sessionId.clone();
        }
        byte[] nonce = new byte[FrameCodec.NONCE_LENGTH];
        random.nextBytes(nonce);
        this.key = key;
        this.limits = Limits.defaults();
        this.hello = new Frame.Hello(
                minVersion, maxVersion, tokenId, nonce, clock.millis(), intent, sid, lastReceivedSeq, capabilities);
    }

    /** The HELLO to send first. */
    public Frame.Hello hello() {
        return hello;
    }

    /** Answers the server's challenge. A CLOSE instead of a challenge is reported as a ProtocolException. */
    public Frame.Proof onChallenge(Frame frame) throws ProtocolException {
        refuseIfClose(frame);
        if (!(frame instanceof Frame.Challenge c)) {
            throw new ProtocolException("expected CHALLENGE, got " + frame.type());
        }
        if (challenge != null) {
            throw new ProtocolException("second CHALLENGE in one handshake");
        }
        if (c.version() < hello.minVersion() || c.version() > hello.maxVersion()) {
            throw new ProtocolException(
                    CloseCode.VERSION_MISMATCH,
                    "server chose protocol " + c.version() + " but this client speaks " + hello.minVersion() + ".."
                            + hello.maxVersion() + ": upgrade the client");
        }
        if ((hello.capabilities() & Capabilities.ENCRYPTED) != 0 && (c.capabilities() & Capabilities.ENCRYPTED) == 0) {
            throw new ProtocolException(
                    CloseCode.ENCRYPTION_MISMATCH,
                    "the exit node does not encrypt frames but this entry node does (SPLITSTREAM_ENCRYPTION=on): "
                            + "set SPLITSTREAM_ENCRYPTION=on on the exit node, or off on this entry node");
        }
        if ((c.capabilities() & ~hello.capabilities()) != 0) {
            throw new ProtocolException("server agreed to capabilities 0x" + Integer.toHexString(c.capabilities())
                    + " the client did not offer");
        }
        challenge = c;
        transcript =
                concat(Hmac.bytes(new FrameCodec(limits), hello), Hmac.bytes(new FrameCodec(limits, c.version()), c));
        proof = Hmac.mac(key, Hmac.CLIENT_PROOF, transcript);
        return new Frame.Proof(proof.clone());
    }

    /** Verifies the server's WELCOME (its own proof) and returns what was established. */
    public HandshakeResult onWelcome(Frame frame) throws ProtocolException {
        refuseIfClose(frame);
        if (challenge == null) {
            throw new ProtocolException("WELCOME before CHALLENGE");
        }
        if (done) {
            throw new ProtocolException("second WELCOME in one handshake");
        }
        if (!(frame instanceof Frame.Welcome w)) {
            throw new ProtocolException("expected WELCOME, got " + frame.type());
        }
        byte[] expected = Hmac.mac(
                key,
                Hmac.SERVER_PROOF,
                transcript,
                proof,
                Hmac.welcomeFields(w.sessionId(), w.lastReceivedSeq(), w.maxPayload(), w.initialWindow()));
        if (!Hmac.equal(expected, w.serverMac())) {
            throw new ProtocolException(
                    CloseCode.AUTH_FAILED, "server proof did not verify: the server does not hold the key");
        }
        if (hello.intent() != Frame.Intent.NEW && !Arrays.equals(hello.sessionId(), w.sessionId())) {
            throw new ProtocolException("WELCOME names another session than the one asked for");
        }
        done = true;
        Secret sessionKey = hello.intent() == Frame.Intent.NEW
                ? Hmac.sessionKey(key, hello.nonce(), challenge.nonce(), w.sessionId())
                : key;
        return new HandshakeResult(
                hello.tokenId(),
                hello.intent(),
                w.sessionId().clone(),
                challenge.version(),
                challenge.capabilities(),
                w.lastReceivedSeq(),
                sessionKey,
                w.maxPayload(),
                w.initialWindow(),
                (challenge.capabilities() & Capabilities.ENCRYPTED) != 0
                        ? FrameKeys.derive(sessionKey, transcript, true)
                        : null);
    }

    private static void refuseIfClose(Frame frame) throws ProtocolException {
        if (frame instanceof Frame.Close c) {
            throw new ProtocolException(c.code(), "server refused the handshake: " + c.code() + " " + c.message());
        }
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
