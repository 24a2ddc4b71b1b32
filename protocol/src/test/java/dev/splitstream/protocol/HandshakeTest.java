package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class HandshakeTest {
    private static final String TOKEN_TEXT = "correct horse battery staple";
    private final Secret token = Secret.ofText(TOKEN_TEXT);
    private final MutableClock clock = MutableClock.atFixedStart();
    private final SecureRandom random = new SecureRandom();
    private final Limits limits = Limits.defaults();
    private final ReplayGuard replay = ReplayGuard.forLimits(limits, 1000, clock);
    private final Map<String, Secret> sessionKeys = new HashMap<>();
    private final FrameCodec codec = new FrameCodec(limits);

    private ServerHandshake server() {
        return new ServerHandshake(
                id -> id.equals("default") ? Optional.of(token) : Optional.empty(),
                sid -> Optional.ofNullable(sessionKeys.get(Hmac.hex(sid))),
                replay,
                limits,
                Capabilities.DEFLATE,
                clock,
                random);
    }

    private ClientHandshake client(String tokenId, Secret key, Frame.Intent intent, byte[] sid, long last) {
        return new ClientHandshake(tokenId, key, intent, sid, last, Capabilities.DEFLATE, clock, random);
    }

    /** Sends a frame across the wire format, as the transports do. */
    private Frame wire(Frame f) throws ProtocolException {
        return codec.decodeMessage(codec.encode(f));
    }

    private record Both(HandshakeResult client, HandshakeResult server) {}

    private Both run(ClientHandshake c, ServerHandshake s, long serverLastReceived) throws ProtocolException {
        Frame.Challenge challenge = s.onHello(wire(c.hello()));
        Frame.Proof proof = c.onChallenge(wire(challenge));
        HandshakeResult sr = s.onProof(wire(proof));
        HandshakeResult cr = c.onWelcome(wire(s.welcome(serverLastReceived)));
        return new Both(cr, sr);
    }

    private Both newSession() throws ProtocolException {
        Both b = run(client("default", token, Frame.Intent.NEW, null, 0), server(), 0);
        sessionKeys.put(Hmac.hex(b.server().sessionId()), b.server().sessionKey());
        return b;
    }

    private static CloseCode codeOf(Throwable t) {
        return ((ProtocolException) t).code();
    }

    @Test
    void newSessionSucceedsAndBothSidesDeriveTheSameSessionKey() throws Exception {
        Both b = newSession();
        assertThat(b.client().sessionId()).hasSize(16).isEqualTo(b.server().sessionId());
        assertThat(b.client().sessionKey()).isEqualTo(b.server().sessionKey()).isNotEqualTo(token);
        assertThat(b.client().version()).isEqualTo(2).isEqualTo(b.server().version());
        assertThat(b.client().capabilities()).isEqualTo(Capabilities.DEFLATE);
        assertThat(b.server().tokenId()).isEqualTo("default");
        assertThat(b.client().maxPayload()).isEqualTo(limits.maxPayload());
        assertThat(b.client().initialWindow()).isEqualTo(limits.initialWindow());
        assertThat(b.server().intent()).isEqualTo(Frame.Intent.NEW);
    }

    @Test
    void twoNewSessionsGetDifferentIdsAndKeys() throws Exception {
        Both a = newSession();
        Both b = newSession();
        assertThat(a.server().sessionId()).isNotEqualTo(b.server().sessionId());
        assertThat(a.server().sessionKey()).isNotEqualTo(b.server().sessionKey());
    }

    @Test
    void wrongSecretIsRefusedWithAuthFailedAndTheMessageHoldsNoSecret() throws Exception {
        ClientHandshake c = client("default", Secret.ofText("hunter2-guess"), Frame.Intent.NEW, null, 0);
        ServerHandshake s = server();
        Frame.Proof proof = c.onChallenge(wire(s.onHello(wire(c.hello()))));
        assertThatThrownBy(() -> s.onProof(wire(proof)))
                .isInstanceOf(ProtocolException.class)
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED))
                .hasMessageNotContaining(TOKEN_TEXT)
                .hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> s.welcome(0)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void unknownTokenIdIsRefused() {
        ClientHandshake c = client("nobody", token, Frame.Intent.NEW, null, 0);
        assertThatThrownBy(() -> server().onHello(wire(c.hello())))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void replayedHelloGetsAFreshChallengeSoItsRecordedProofFails() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        ServerHandshake first = server();
        Frame.Proof recorded = c.onChallenge(wire(first.onHello(wire(c.hello()))));
        first.onProof(wire(recorded));
        ServerHandshake second = server();
        second.onHello(wire(c.hello()));
        assertThatThrownBy(() -> second.onProof(wire(recorded)))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void nonceOfAVerifiedHandshakeCannotBeUsedAgainEvenOnAnotherConnection() throws Exception {
        SecureRandom sameNonce = new SecureRandom() {
            @Override
            public void nextBytes(byte[] bytes) {
                java.util.Arrays.fill(bytes, (byte) 7);
            }
        };
        run(new ClientHandshake("default", token, Frame.Intent.NEW, null, 0, 0, clock, sameNonce), server(), 0);
        ClientHandshake again = new ClientHandshake("default", token, Frame.Intent.NEW, null, 0, 0, clock, sameNonce);
        ServerHandshake s = server();
        Frame.Proof proof = again.onChallenge(wire(s.onHello(wire(again.hello()))));
        assertThatThrownBy(() -> s.onProof(wire(proof)))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.REPLAY));
    }

    @Test
    void hellosWithoutAProofLeaveNothingInTheReplayGuard() throws Exception {
        for (int i = 0; i < 100; i++) {
            server().onHello(wire(
                    client("default", token, Frame.Intent.NEW, null, 0).hello()));
        }
        ClientHandshake wrong = client("default", Secret.ofText("not the secret at all"), Frame.Intent.NEW, null, 0);
        ServerHandshake s = server();
        Frame.Proof bad = wrong.onChallenge(wire(s.onHello(wire(wrong.hello()))));
        assertThatThrownBy(() -> s.onProof(wire(bad))).isInstanceOf(ProtocolException.class);
        assertThat(replay.size()).isZero();
        newSession();
        assertThat(replay.size()).isEqualTo(1);
    }

    @Test
    void staleOrFutureTimestampIsRefused() {
        ClientHandshake old = client("default", token, Frame.Intent.NEW, null, 0);
        clock.advance(limits.clockSkew().plusSeconds(1));
        assertThatThrownBy(() -> server().onHello(wire(old.hello())))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.STALE))
                .hasMessageContaining("old");
        ClientHandshake future = client("default", token, Frame.Intent.NEW, null, 0);
        clock.advance(limits.clockSkew().plusSeconds(1).negated().multipliedBy(2));
        assertThatThrownBy(() -> server().onHello(wire(future.hello())))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.STALE))
                .hasMessageContaining("future");
    }

    @Test
    void timestampWithinTheSkewIsAccepted() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        clock.advance(limits.clockSkew().minusSeconds(1));
        run(c, server(), 0);
    }

    @Test
    void resumeWithTheSessionKeySucceedsAndCarriesBothLastReceivedSequences() throws Exception {
        Both first = newSession();
        ClientHandshake c = client(
                "default",
                first.client().sessionKey(),
                Frame.Intent.RESUME,
                first.client().sessionId(),
                41);
        Both again = run(c, server(), 17);
        assertThat(again.server().intent()).isEqualTo(Frame.Intent.RESUME);
        assertThat(again.server().sessionId()).isEqualTo(first.server().sessionId());
        assertThat(again.server().peerLastReceivedSeq()).isEqualTo(41);
        assertThat(again.client().peerLastReceivedSeq()).isEqualTo(17);
        assertThat(again.client().sessionKey()).isEqualTo(first.client().sessionKey());
        assertThat(again.server().sessionKey()).isEqualTo(first.server().sessionKey());
    }

    @Test
    void joinWithTheSessionKeySucceeds() throws Exception {
        Both first = newSession();
        for (Frame.Intent intent : new Frame.Intent[] {Frame.Intent.JOIN_UPSTREAM, Frame.Intent.JOIN_DOWNSTREAM}) {
            Both join = run(
                    client(
                            "default",
                            first.client().sessionKey(),
                            intent,
                            first.client().sessionId(),
                            0),
                    server(),
                    0);
            assertThat(join.server().intent()).isEqualTo(intent);
            assertThat(join.client().sessionId()).isEqualTo(first.client().sessionId());
        }
    }

    @Test
    void stolenSessionIdWithoutTheSessionKeyIsRefusedEvenKnowingTheTokenSecret() throws Exception {
        Both first = newSession();
        for (Frame.Intent intent : new Frame.Intent[] {Frame.Intent.RESUME, Frame.Intent.JOIN_DOWNSTREAM}) {
            ClientHandshake thief =
                    client("default", token, intent, first.client().sessionId(), 0);
            ServerHandshake s = server();
            Frame.Proof proof = thief.onChallenge(wire(s.onHello(wire(thief.hello()))));
            assertThatThrownBy(() -> s.onProof(wire(proof)))
                    .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED))
                    .hasMessageContaining("session key");
        }
    }

    @Test
    void resumeOfAnUnknownSessionIsRefused() {
        ClientHandshake c = client("default", token, Frame.Intent.RESUME, new byte[16], 0);
        assertThatThrownBy(() -> server().onHello(wire(c.hello())))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.UNKNOWN_SESSION));
    }

    @Test
    void clientRefusesAWelcomeFromAServerWithoutTheKey() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        ServerHandshake impostor = new ServerHandshake(
                id -> Optional.of(Secret.ofText("guess")), sid -> Optional.empty(), replay, limits, 0, clock, random);
        Frame.Proof proof = c.onChallenge(wire(impostor.onHello(wire(c.hello()))));
        // the impostor cannot verify the proof, so it forges a welcome with its own key
        assertThatThrownBy(() -> impostor.onProof(proof)).isInstanceOf(ProtocolException.class);
        Frame.Welcome forged = new Frame.Welcome(new byte[16], 0, new byte[32], 65536, 65536);
        assertThatThrownBy(() -> c.onWelcome(wire(forged)))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void clientRefusesAWelcomeWhoseFieldsWereTamperedWith() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        ServerHandshake s = server();
        s.onProof(wire(c.onChallenge(wire(s.onHello(wire(c.hello()))))));
        Frame.Welcome w = s.welcome(0);
        Frame.Welcome tampered = new Frame.Welcome(w.sessionId(), 5, w.serverMac(), w.maxPayload(), w.initialWindow());
        assertThatThrownBy(() -> c.onWelcome(wire(tampered)))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED));
        assertThat(c.onWelcome(wire(w)).sessionId()).isEqualTo(w.sessionId());
    }

    @Test
    void tamperedHelloBreaksTheProof() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        Frame.Hello h = c.hello();
        Frame.Hello changed = new Frame.Hello(
                h.minVersion(),
                h.maxVersion(),
                h.tokenId(),
                h.nonce(),
                h.timestampMillis(),
                h.intent(),
                h.sessionId(),
                h.lastReceivedSeq(),
                0);
        ServerHandshake s = server();
        Frame.Challenge ch = s.onHello(wire(changed));
        Frame.Proof proof = c.onChallenge(wire(ch));
        assertThatThrownBy(() -> s.onProof(wire(proof)))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void versionMismatchSaysToUpgradeTheClient() {
        ServerHandshake newer = new ServerHandshake(
                id -> Optional.of(token), sid -> Optional.empty(), replay, limits, 0, clock, random, 3, 4);
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        assertThatThrownBy(() -> newer.onHello(wire(c.hello())))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.VERSION_MISMATCH))
                .hasMessage("client speaks protocol 2..2 but this server needs 3..4: upgrade the client");
    }

    @Test
    void versionMismatchSaysToUpgradeTheServer() {
        ClientHandshake future =
                new ClientHandshake("default", token, Frame.Intent.NEW, null, 0, 0, clock, random, 4, 5);
        assertThatThrownBy(() -> server().onHello(wire(future.hello())))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.VERSION_MISMATCH))
                .hasMessage("client speaks protocol 4..5 but this server speaks only 2..2: upgrade the server");
    }

    @Test
    void overlappingVersionRangesAgreeOnTheHighestCommonVersion() throws Exception {
        ServerHandshake s = new ServerHandshake(
                id -> Optional.of(token), sid -> Optional.empty(), replay, limits, 0, clock, random, 2, 2);
        ClientHandshake c = new ClientHandshake("default", token, Frame.Intent.NEW, null, 0, 0, clock, random, 1, 9);
        assertThat(s.onHello(c.hello()).version()).isEqualTo(2);
    }

    @Test
    void clientRefusesAChallengeOutsideItsVersionRange() {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        assertThatThrownBy(() -> c.onChallenge(new Frame.Challenge(3, new byte[32], 0)))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.VERSION_MISMATCH))
                .hasMessageContaining("upgrade the client");
    }

    @Test
    void clientRefusesCapabilitiesItDidNotOffer() {
        ClientHandshake c = new ClientHandshake("default", token, Frame.Intent.NEW, null, 0, 0, clock, random);
        assertThatThrownBy(() -> c.onChallenge(new Frame.Challenge(2, new byte[32], Capabilities.DEFLATE)))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void capabilitiesAreTheIntersectionOfBothSides() throws Exception {
        ServerHandshake plain = new ServerHandshake(
                id -> Optional.of(token), sid -> Optional.empty(), replay, limits, 0, clock, random);
        Both b = run(client("default", token, Frame.Intent.NEW, null, 0), plain, 0);
        assertThat(b.client().capabilities()).isZero();
        assertThat(b.server().capabilities()).isZero();
    }

    @Test
    void closeInsteadOfAChallengeOrWelcomeBecomesAProtocolExceptionWithItsCode() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        assertThatThrownBy(() -> c.onChallenge(new Frame.Close(CloseCode.STALE, "check both clocks")))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.STALE))
                .hasMessageContaining("check both clocks");
        ClientHandshake d = client("default", token, Frame.Intent.NEW, null, 0);
        ServerHandshake s = server();
        d.onChallenge(s.onHello(d.hello()));
        assertThatThrownBy(() -> d.onWelcome(new Frame.Close(CloseCode.AUTH_FAILED, "no")))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void framesOutOfOrderAreRefused() throws Exception {
        ServerHandshake s = server();
        assertThatThrownBy(() -> s.onHello(new Frame.Ping(1))).hasMessageContaining("expected HELLO, got PING");
        ServerHandshake s2 = server();
        assertThatThrownBy(() -> s2.onProof(new Frame.Proof(new byte[32]))).hasMessageContaining("out of order");
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        assertThatThrownBy(() -> c.onWelcome(new Frame.Welcome(new byte[16], 0, new byte[32], 65536, 1)))
                .hasMessageContaining("before CHALLENGE");
        ServerHandshake s3 = server();
        ClientHandshake c3 = client("default", token, Frame.Intent.NEW, null, 0);
        s3.onHello(c3.hello());
        assertThatThrownBy(() -> s3.onHello(c3.hello())).hasMessageContaining("out of order");
    }

    @Test
    void transcriptCoversTheExactEncodedHelloAndChallenge() throws Exception {
        ClientHandshake c = client("default", token, Frame.Intent.NEW, null, 0);
        ServerHandshake s = server();
        Frame.Challenge ch = s.onHello(c.hello());
        byte[] hello = toArray(codec.encode(c.hello()));
        byte[] challenge = toArray(codec.encode(ch));
        byte[] expected = Hmac.mac(token, "splitstream client proof", ClientHandshake.concat(hello, challenge));
        assertThat(c.onChallenge(ch).mac()).isEqualTo(expected);
    }

    @Test
    void secretAndResultsNeverPrintTheKey() throws Exception {
        assertThat(token.toString()).isEqualTo("Secret[<redacted>]").doesNotContain(TOKEN_TEXT);
        Both b = newSession();
        String keyHex = Hmac.hex(b.server().sessionKey().bytes());
        assertThat(b.server().toString()).doesNotContain(keyHex).contains("Secret[<redacted>]");
        assertThat(b.client().toString()).doesNotContain(keyHex);
    }

    @Test
    void secretCopiesItsBytesBothWays() {
        byte[] raw = {1, 2, 3};
        Secret s = new Secret(raw);
        raw[0] = 9;
        assertThat(s.bytes()).containsExactly(1, 2, 3);
        s.bytes()[1] = 9;
        assertThat(s.bytes()).containsExactly(1, 2, 3);
        assertThat(s).isEqualTo(new Secret(new byte[] {1, 2, 3})).hasSameHashCodeAs(new Secret(new byte[] {1, 2, 3}));
    }

    @Test
    void replayGuardWindowCoversTheWholeSkew() {
        assertThat(Duration.ofMinutes(4)).isEqualTo(limits.clockSkew().multipliedBy(2));
    }

    private static byte[] toArray(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
