package dev.splitstream.protocol;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.Objects;
import java.util.Optional;

/**
 * The server side of the handshake for one connection: CHALLENGE on HELLO, WELCOME on a valid PROOF. Refusals are
 * {@link ProtocolException}s whose {@link ProtocolException#code()} and message go into the CLOSE frame sent back.
 * Messages never contain secrets. Not thread-safe; one instance per connection.
 */
public final class ServerHandshake {

    /** Looks up the session key of an existing session (for RESUME and JOIN). */
    @FunctionalInterface
    public interface SessionKeys {
        /** The key of the session with this id, held by the caller, or empty when unknown. */
        Optional<Secret> keyFor(byte[] sessionId);
    }

    private final TokenStore tokens;
    private final SessionKeys sessions;
    private final ReplayGuard replay;
    private final Limits limits;
    private final int serverCapabilities;
    private final Clock clock;
    private final SecureRandom random;
    private final int minVersion;
    private final int maxVersion;

    private Frame.Hello hello;
    private Frame.Challenge challenge;
    private Secret key;
    private byte[] transcript;
    private byte[] clientProof;
    private HandshakeResult result;
    private boolean failed;

    /**
     * @param tokens token id to secret
     * @param sessions session id to session key, for RESUME/JOIN
     * @param replay nonces seen recently (shared by all connections of a node)
     * @param limits sizes and clock skew
     * @param serverCapabilities features this server offers ({@link Capabilities})
     * @param clock wall clock, to refuse stale hellos
     * @param random source of the challenge nonce and of new session ids
     */
    public ServerHandshake(
            TokenStore tokens,
            SessionKeys sessions,
            ReplayGuard replay,
            Limits limits,
            int serverCapabilities,
            Clock clock,
            SecureRandom random) {
        this(
                tokens,
                sessions,
                replay,
                limits,
                serverCapabilities,
                clock,
                random,
                FrameCodec.MIN_VERSION,
                FrameCodec.MAX_VERSION);
    }

    /** As the public constructor, with a version range other than this implementation's (for tests). */
    ServerHandshake(
            TokenStore tokens,
            SessionKeys sessions,
            ReplayGuard replay,
            Limits limits,
            int serverCapabilities,
            Clock clock,
            SecureRandom random,
            int minVersion,
            int maxVersion) {
        this.tokens = Objects.requireNonNull(tokens);
        this.sessions = Objects.requireNonNull(sessions);
        this.replay = Objects.requireNonNull(replay);
        this.limits = Objects.requireNonNull(limits);
        this.serverCapabilities = serverCapabilities;
        this.clock = Objects.requireNonNull(clock);
        this.random = Objects.requireNonNull(random);
        this.minVersion = minVersion;
        this.maxVersion = maxVersion;
    }

    /**
     * Checks version, timestamp and token id (or session id); returns the challenge to send. Keeps no node-wide state:
     * the nonce is recorded against replays only once the proof verified ({@link #onProof}), so hellos from someone
     * without the secret cost the node nothing beyond this handshake.
     */
    public Frame.Challenge onHello(Frame frame) throws ProtocolException {
        if (failed || hello != null) {
            throw fail(new ProtocolException("HELLO out of order"));
        }
        if (!(frame instanceof Frame.Hello h)) {
            throw fail(new ProtocolException("expected HELLO, got " + frame.type()));
        }
        int version = Math.min(h.maxVersion(), maxVersion);
        if (version < Math.max(h.minVersion(), minVersion)) {
            String range = "client speaks protocol " + h.minVersion() + ".." + h.maxVersion() + " but this server ";
            throw fail(new ProtocolException(
                    CloseCode.VERSION_MISMATCH,
                    h.maxVersion() < minVersion
                            ? range + "needs " + minVersion + ".." + maxVersion + ": upgrade the client"
                            : range + "speaks only " + minVersion + ".." + maxVersion + ": upgrade the server"));
        }
        boolean serverEncrypts = (serverCapabilities & Capabilities.ENCRYPTED) != 0;
        if (serverEncrypts != ((h.capabilities() & Capabilities.ENCRYPTED) != 0)) {
            throw fail(new ProtocolException(
                    CloseCode.ENCRYPTION_MISMATCH,
                    serverEncrypts
                            ? "the entry node does not encrypt frames (SPLITSTREAM_ENCRYPTION=off) but this exit node"
                                    + " requires it: set SPLITSTREAM_ENCRYPTION=on on the entry node, or off on the"
                                    + " exit node"
                            : "the entry node encrypts frames (SPLITSTREAM_ENCRYPTION=on) but this exit node has"
                                    + " SPLITSTREAM_ENCRYPTION=off: set it to on on the exit node, or to off on the"
                                    + " entry node"));
        }
        long skew = clock.millis() - h.timestampMillis();
        if (Math.abs(skew) > limits.clockSkew().toMillis()) {
            throw fail(new ProtocolException(
                    CloseCode.STALE,
                    "hello timestamp is " + Math.abs(skew) / 1000 + "s " + (skew > 0 ? "old" : "in the future")
                            + ", more than the allowed clock skew of "
                            + limits.clockSkew().toSeconds()
                            + "s: check both clocks"));
        }
        Optional<Secret> k;
        if (h.intent() == Frame.Intent.NEW) {
            k = tokens.secretFor(h.tokenId());
            if (k.isEmpty() || k.get().bytes().length == 0) {
                throw fail(new ProtocolException(CloseCode.AUTH_FAILED, "unknown token id"));
            }
        } else {
            k = sessions.keyFor(h.sessionId().clone());
            if (k.isEmpty()) {
                throw fail(new ProtocolException(
                        CloseCode.UNKNOWN_SESSION, h.intent() + " of a session this server does not hold"));
            }
        }
        byte[] nonce = new byte[FrameCodec.NONCE_LENGTH];
        random.nextBytes(nonce);
        hello = h;
        key = k.get();
        challenge = new Frame.Challenge(version, nonce, h.capabilities() & serverCapabilities);
        transcript = ClientHandshake.concat(
                Hmac.bytes(new FrameCodec(limits), h), Hmac.bytes(new FrameCodec(limits, version), challenge));
        return challenge;
    }

    /**
     * Verifies the proof (constant time), then records the hello's nonce (REPLAY if a verified handshake already used
     * it, LIMIT_EXCEEDED if the guard is full). For NEW the returned result has a fresh random session id and a derived
     * session key; for RESUME/JOIN it names the existing session. {@link HandshakeResult#peerLastReceivedSeq()} is what
     * the client says it received.
     */
    public HandshakeResult onProof(Frame frame) throws ProtocolException {
        if (failed || challenge == null || result != null) {
            throw fail(new ProtocolException("PROOF out of order"));
        }
        if (!(frame instanceof Frame.Proof p)) {
            throw fail(new ProtocolException("expected PROOF, got " + frame.type()));
        }
        byte[] expected = Hmac.mac(key, Hmac.CLIENT_PROOF, transcript);
        if (!Hmac.equal(expected, p.mac())) {
            throw fail(new ProtocolException(
                    CloseCode.AUTH_FAILED,
                    hello.intent() == Frame.Intent.NEW
                            ? "proof did not verify: wrong token secret"
                            : "proof did not verify: " + hello.intent() + " needs the session key"));
        }
        // Only now, with the proof verified, does the nonce take room in the node-wide guard: an unauthenticated
        // client cannot fill it. A replayed HELLO never gets this far anyway (the fresh challenge changes the proof).
        try {
            replay.check(hello.nonce());
        } catch (ProtocolException e) {
            throw fail(e);
        }
        clientProof = p.mac().clone();
        byte[] sessionId;
        Secret sessionKey;
        if (hello.intent() == Frame.Intent.NEW) {
            sessionId = new byte[FrameCodec.SESSION_ID_LENGTH];
            random.nextBytes(sessionId);
            sessionKey = Hmac.sessionKey(key, hello.nonce(), challenge.nonce(), sessionId);
        } else {
            sessionId = hello.sessionId().clone();
            sessionKey = key;
        }
        result = new HandshakeResult(
                hello.tokenId(),
                hello.intent(),
                sessionId,
                challenge.version(),
                challenge.capabilities(),
                hello.lastReceivedSeq(),
                sessionKey,
                limits.maxPayload(),
                limits.initialWindow(),
                (challenge.capabilities() & Capabilities.ENCRYPTED) != 0
                        ? FrameKeys.derive(sessionKey, transcript, false)
                        : null);
        return result;
    }

    /**
     * The WELCOME to send after {@link #onProof}: carries the server's own proof and {@code lastReceivedSeq}, the last
     * reliable sequence number the server received on this session (0 for new sessions).
     *
     * @throws IllegalStateException before a successful {@link #onProof}
     */
    public Frame.Welcome welcome(long lastReceivedSeq) {
        if (result == null) {
            throw new IllegalStateException("welcome() before a verified proof");
        }
        byte[] sid = result.sessionId();
        byte[] mac = Hmac.mac(
                key,
                Hmac.SERVER_PROOF,
                transcript,
                clientProof,
                Hmac.welcomeFields(sid, lastReceivedSeq, limits.maxPayload(), limits.initialWindow()));
        return new Frame.Welcome(sid.clone(), lastReceivedSeq, mac, limits.maxPayload(), limits.initialWindow());
    }

    private ProtocolException fail(ProtocolException e) {
        failed = true;
        return e;
    }
}
