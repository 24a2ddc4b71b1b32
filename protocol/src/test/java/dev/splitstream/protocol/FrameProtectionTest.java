package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * End-to-end frame protection (docs/PROTOCOL.md section 12) between two codecs set up by real handshakes: every frame
 * type round-trips sealed; any changed byte, a replay, a reordering, an injected plaintext frame or an envelope from
 * another leg is refused; encryption on/off mismatches are refused with a message saying which side to change.
 */
class FrameProtectionTest {
    private final MutableClock clock = MutableClock.atFixedStart();
    private final Secret token = Secret.ofText("protection-test-token");
    private final ReplayGuard replay = new ReplayGuard(Duration.ofMinutes(4), 1000, clock);
    private final SecureRandom random = new SecureRandom();
    private final Limits limits = Limits.defaults();

    private record Leg(
            HandshakeResult client, HandshakeResult server, FrameCodec clientCodec, FrameCodec serverCodec) {}

    private HandshakeResult[] handshake(int clientCaps, int serverCaps, Frame.Intent intent, HandshakeResult session)
            throws ProtocolException {
        ClientHandshake c = new ClientHandshake(
                "default",
                session == null ? token : session.sessionKey(),
                intent,
                session == null ? null : session.sessionId(),
                0,
                clientCaps,
                clock,
                random);
        ServerHandshake s = new ServerHandshake(
                id -> Optional.of(token),
                sid -> session == null ? Optional.empty() : Optional.of(session.sessionKey()),
                replay,
                limits,
                serverCaps,
                clock,
                random);
        Frame.Challenge ch = s.onHello(c.hello());
        HandshakeResult atServer = s.onProof(c.onChallenge(ch));
        HandshakeResult atClient = c.onWelcome(s.welcome(0));
        return new HandshakeResult[] {atClient, atServer};
    }

    private Leg leg(Frame.Intent intent, HandshakeResult session) throws ProtocolException {
        HandshakeResult[] r =
                handshake(Capabilities.ENCRYPTED, Capabilities.ENCRYPTED | Capabilities.SPLIT, intent, session);
        return new Leg(
                r[0],
                r[1],
                FrameCodec.forSession(limits, r[0], Deflate.defaults()),
                FrameCodec.forSession(limits, r[1], Deflate.defaults()));
    }

    private Leg newLeg() throws ProtocolException {
        return leg(Frame.Intent.NEW, null);
    }

    static List<Frame> sessionFrames() {
        return Frames.everyType().stream().filter(FrameCodec::sessionFrame).toList();
    }

    @ParameterizedTest
    @MethodSource("sessionFrames")
    void everySessionFrameRoundTripsSealedAndHidesItsContents(Frame frame) throws Exception {
        Leg leg = newLeg();
        ByteBuffer sealed = leg.clientCodec().encode(frame);
        assertThat(sealed.get(1)).isEqualTo((byte) FrameProtection.SEALED);
        assertThat(sealed.remaining())
                .isEqualTo(new FrameCodec(limits).encodedLength(frame) + FrameProtection.OVERHEAD);
        ByteBuffer plain = new FrameCodec(limits).encode(frame);
        byte[] plainBody = new byte[plain.remaining() - 20];
        plain.get(20, plainBody);
        byte[] ciphertext = java.util.Arrays.copyOfRange(array(sealed), 20, sealed.remaining());
        if (plainBody.length >= 8) {
            assertThat(contains(ciphertext, plainBody)).isFalse();
        }
        Frame back = leg.serverCodec().decodeMessage(sealed);
        assertThat(array(new FrameCodec(limits).encode(back))).isEqualTo(array(new FrameCodec(limits).encode(frame)));
    }

    @ParameterizedTest
    @MethodSource("sessionFrames")
    void sealingIntoACallersDirectBufferGivesTheSameEnvelope(Frame frame) throws Exception {
        Leg leg = newLeg();
        // Two codecs of the same leg seal the same first envelope: one into a new heap buffer, one into a direct
        // buffer handed out at an offset (as a pooled transport buffer would be).
        FrameCodec twin = FrameCodec.forSession(limits, leg.client(), Deflate.defaults());
        ByteBuffer heap = leg.clientCodec().encode(frame);
        int[] calls = {0};
        ByteBuffer direct = twin.encode(frame, n -> {
            calls[0]++;
            return ByteBuffer.allocateDirect(n + 10).position(7);
        });
        assertThat(calls[0]).isEqualTo(1);
        assertThat(direct.isDirect()).isTrue();
        assertThat(direct.position()).isEqualTo(7);
        assertThat(array(direct)).isEqualTo(array(heap));
        Frame back = leg.serverCodec().decodeMessage(direct);
        assertThat(array(new FrameCodec(limits).encode(back))).isEqualTo(array(new FrameCodec(limits).encode(frame)));
    }

    @Test
    void plainEncodingIntoACallersBufferMatchesTheHeapEncoding() {
        FrameCodec compressing = new FrameCodec(limits).withDeflate(Deflate.defaults());
        byte[] text = "abcdefgh".repeat(2048).getBytes(StandardCharsets.US_ASCII);
        for (Frame frame : List.of(
                new Frame.Data(3, 9, ByteBuffer.wrap(text), false),
                new Frame.WindowUpdate(3, 10, 65536),
                new Frame.Ack(41))) {
            ByteBuffer heap = compressing.encode(frame);
            ByteBuffer direct = compressing.encode(
                    frame, n -> ByteBuffer.allocateDirect(n + 3).position(3));
            assertThat(direct.position()).isEqualTo(3);
            assertThat(array(direct)).isEqualTo(array(heap));
        }
    }

    @Test
    void handshakeFramesAreNeverSealed() throws Exception {
        Leg leg = newLeg();
        for (Frame f : Frames.everyType()) {
            if (!FrameCodec.sessionFrame(f)) {
                assertThat(leg.serverCodec().encode(f).get(1)).isEqualTo((byte) f.type().code);
            }
        }
    }

    @Test
    void aLargeDataPayloadIsReadOnceAndStaysUnchangedForResending() throws Exception {
        Leg leg = newLeg();
        byte[] bytes = new byte[65536];
        random.nextBytes(bytes);
        ByteBuffer payload = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        Frame.Data d = new Frame.Data(1, 1, payload, true);
        ByteBuffer first = leg.clientCodec().encode(d);
        assertThat(payload.position()).isZero();
        Frame.Data back = (Frame.Data) leg.serverCodec().decodeMessage(first);
        assertThat(back.fin()).isTrue();
        assertThat(array(back.payload())).isEqualTo(bytes);
        // The same frame again (a resend): a new counter, so a different ciphertext.
        ByteBuffer second = leg.clientCodec().encode(d);
        assertThat(second.getLong(8)).isEqualTo(2);
        assertThat(array(second)).isNotEqualTo(array(first));
    }

    @Test
    void flippingAnyByteOfAnEnvelopeIsRefusedAsAnAuthenticationFailure() throws Exception {
        Leg leg = newLeg();
        byte[] wire = array(leg.clientCodec().encode(new Frame.Data(1, 1, text("secret payload"), false)));
        for (int i = 0; i < wire.length; i++) {
            Leg fresh = newLeg();
            byte[] w = array(fresh.clientCodec().encode(new Frame.Data(1, 1, text("secret payload"), false)));
            w[i] ^= 0x01;
            int at = i;
            assertThatThrownBy(() -> fresh.serverCodec().decodeMessage(ByteBuffer.wrap(w)))
                    .as("byte %d flipped", at)
                    .isInstanceOf(ProtocolException.class);
        }
        // In the ciphertext or the tag the message names the cause.
        Leg fresh = newLeg();
        byte[] w = array(fresh.clientCodec().encode(new Frame.Data(1, 1, text("secret payload"), false)));
        w[w.length - 1] ^= 0x80;
        assertThatThrownBy(() -> fresh.serverCodec().decodeMessage(ByteBuffer.wrap(w)))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("failed authentication")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.AUTH_FAILED);
        // And a refused envelope changes nothing: the genuine next one still opens.
        byte[] next = array(fresh.clientCodec().encode(new Frame.Ping(7)));
        assertThatThrownBy(() -> fresh.serverCodec().decodeMessage(ByteBuffer.wrap(w)));
        assertThat(fresh.serverCodec().decodeMessage(ByteBuffer.wrap(next))).isEqualTo(new Frame.Ping(7));
    }

    @Test
    void aReplayedOrReorderedEnvelopeIsRefused() throws Exception {
        Leg leg = newLeg();
        ByteBuffer a = leg.clientCodec().encode(new Frame.Ping(1));
        ByteBuffer b = leg.clientCodec().encode(new Frame.Ping(2));
        ByteBuffer c = leg.clientCodec().encode(new Frame.Ping(3));
        assertThat(leg.serverCodec().decodeMessage(a.duplicate())).isEqualTo(new Frame.Ping(1));
        assertThatThrownBy(() -> leg.serverCodec().decodeMessage(a.duplicate()))
                .isInstanceOf(StaleFrameException.class)
                .hasMessageContaining("replayed or reordered")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.AUTH_FAILED);
        assertThat(leg.serverCodec().decodeMessage(c.duplicate())).isEqualTo(new Frame.Ping(3));
        assertThatThrownBy(() -> leg.serverCodec().decodeMessage(b.duplicate()))
                .isInstanceOf(StaleFrameException.class)
                .hasMessage("protected frame 2 arrived after frame 3: replayed or reordered on the path");
    }

    @Test
    void aByteStreamReaderMaySkipALateBatchAndGoOn() throws Exception {
        Leg leg = newLeg();
        ByteBuffer early = leg.clientCodec().encode(new Frame.Ping(1));
        ByteBuffer late = leg.clientCodec().encode(new Frame.Ping(2));
        ByteBuffer body = ByteBuffer.allocate(early.remaining() + late.remaining());
        body.put(late.duplicate()).put(early.duplicate()).flip();
        assertThat(leg.serverCodec().decodeNext(body)).isEqualTo(new Frame.Ping(2));
        assertThatThrownBy(() -> leg.serverCodec().decodeNext(body)).isInstanceOf(StaleFrameException.class);
        assertThat(body.hasRemaining()).isFalse(); // moved past the stale envelope
    }

    @Test
    void anUnprotectedFrameOnAProtectedLegIsRefused() throws Exception {
        Leg leg = newLeg();
        ByteBuffer injected = new FrameCodec(limits).encode(new Frame.Close(CloseCode.NORMAL, "bye"));
        assertThatThrownBy(() -> leg.clientCodec().decodeMessage(injected))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("unprotected frame of type 0x18 on an encrypted leg")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.AUTH_FAILED);
        ByteBuffer sealed = leg.serverCodec().encode(new Frame.Ping(1));
        assertThatThrownBy(() -> new FrameCodec(limits).decodeMessage(sealed))
                .hasMessageContaining("SEALED frame but encryption was not agreed");
    }

    @Test
    void encodingASessionFrameAroundTheSealIsRefused() throws Exception {
        Leg leg = newLeg();
        assertThatThrownBy(() -> leg.clientCodec().encode(new Frame.Ping(1), ByteBuffer.allocate(100)))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> leg.clientCodec().encodeHeader(new Frame.Ping(1), ByteBuffer.allocate(100)))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void anEnvelopeOfOneDirectionOrLegDoesNotOpenInAnother() throws Exception {
        Leg up = newLeg();
        Leg down = leg(Frame.Intent.JOIN_DOWNSTREAM, up.server());
        // Split path: the downstream leg has keys of its own, different from the upstream leg's.
        assertThat(down.client().frameKeys().send())
                .isNotEqualTo(up.client().frameKeys().send());
        ByteBuffer fromClientOnUp = up.clientCodec().encode(new Frame.Ping(1));
        assertThatThrownBy(() -> down.serverCodec().decodeMessage(fromClientOnUp.duplicate()))
                .hasMessageContaining("failed authentication");
        // Reflected back to its sender (the same leg, the other direction): refused too.
        assertThatThrownBy(() -> up.clientCodec().decodeMessage(fromClientOnUp.duplicate()))
                .hasMessageContaining("failed authentication");
        assertThat(up.serverCodec().decodeMessage(fromClientOnUp.duplicate())).isEqualTo(new Frame.Ping(1));
    }

    @Test
    void aResumedConnectionHasNewKeysSoAResendIsSealedUnderANewKey() throws Exception {
        Leg first = newLeg();
        Leg resumed = leg(Frame.Intent.RESUME, first.server());
        assertThat(resumed.client().sessionKey()).isEqualTo(first.client().sessionKey());
        assertThat(resumed.client().frameKeys().send())
                .isNotEqualTo(first.client().frameKeys().send());
        Frame.Data d = new Frame.Data(1, 1, text("resent"), false);
        ByteBuffer before = first.clientCodec().encode(d);
        ByteBuffer after = resumed.clientCodec().encode(d);
        assertThat(after.getLong(8)).isEqualTo(before.getLong(8)); // same counter, 1...
        assertThat(array(after)).isNotEqualTo(array(before)); // ...under another key
        assertThatThrownBy(() -> resumed.serverCodec().decodeMessage(before.duplicate()))
                .hasMessageContaining("failed authentication");
        assertThat(((Frame.Data) resumed.serverCodec().decodeMessage(after)).payload())
                .isEqualTo(text("resent"));
    }

    @Test
    void keysMoveToTheNextEpochAfter65536Envelopes() throws Exception {
        Leg leg = newLeg();
        List<ByteBuffer> around = new ArrayList<>();
        for (int i = 1; i <= (1 << FrameProtection.EPOCH_BITS) + 2; i++) {
            ByteBuffer b = leg.clientCodec().encode(new Frame.Ping(i));
            if (i >= (1 << FrameProtection.EPOCH_BITS) - 1) {
                around.add(b);
            }
        }
        for (int i = 0; i < around.size(); i++) {
            long counter = (1 << FrameProtection.EPOCH_BITS) - 1 + i;
            assertThat(around.get(i).getLong(8)).isEqualTo(counter);
            assertThat(leg.serverCodec().decodeMessage(around.get(i))).isEqualTo(new Frame.Ping(counter));
        }
        assertThat(leg.serverCodec().protection().opened()).isEqualTo((1 << FrameProtection.EPOCH_BITS) + 2);
    }

    @Test
    void compressedDataIsCompressedThenSealed() throws Exception {
        HandshakeResult[] r = handshake(
                Capabilities.ENCRYPTED | Capabilities.DEFLATE,
                Capabilities.ENCRYPTED | Capabilities.DEFLATE,
                Frame.Intent.NEW,
                null);
        FrameCodec client = FrameCodec.forSession(limits, r[0], Deflate.defaults());
        FrameCodec server = FrameCodec.forSession(limits, r[1], Deflate.defaults());
        ByteBuffer text = text("a very compressible line of text. ".repeat(400));
        ByteBuffer sealed = client.encode(new Frame.Data(3, 9, text, false));
        assertThat(sealed.remaining()).isLessThan(text.remaining() / 4);
        assertThat(((Frame.Data) server.decodeMessage(sealed)).payload()).isEqualTo(text);
    }

    @Test
    void oversizedEnvelopesAreRefusedFromTheHeader() throws Exception {
        Leg leg = newLeg();
        ByteBuffer header = ByteBuffer.allocate(20)
                .put((byte) 2)
                .put((byte) FrameProtection.SEALED)
                .putShort((short) 0)
                .putInt(0)
                .putLong(1)
                .putInt(limits.maxPayload() + FrameProtection.OVERHEAD + 1)
                .flip();
        assertThatThrownBy(() -> leg.serverCodec().decodeNext(header))
                .hasMessageContaining("exceeds")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.LIMIT_EXCEEDED);
    }

    @Test
    void aMismatchIsRefusedNamingTheSideToChange() {
        assertThatThrownBy(() -> handshake(0, Capabilities.ENCRYPTED, Frame.Intent.NEW, null))
                .hasMessage("the entry node does not encrypt frames (SPLITSTREAM_ENCRYPTION=off) but this exit node"
                        + " requires it: set SPLITSTREAM_ENCRYPTION=on on the entry node, or off on the exit node")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.ENCRYPTION_MISMATCH);
        assertThatThrownBy(() -> handshake(Capabilities.ENCRYPTED, 0, Frame.Intent.NEW, null))
                .hasMessage("the entry node encrypts frames (SPLITSTREAM_ENCRYPTION=on) but this exit node has"
                        + " SPLITSTREAM_ENCRYPTION=off: set it to on on the exit node, or to off on the entry node")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.ENCRYPTION_MISMATCH);
    }

    @Test
    void theClientRefusesAChallengeThatDropsEncryption() {
        ClientHandshake c =
                new ClientHandshake("default", token, Frame.Intent.NEW, null, 0, Capabilities.ENCRYPTED, clock, random);
        assertThatThrownBy(() -> c.onChallenge(new Frame.Challenge(2, new byte[32], 0)))
                .hasMessageContaining("set SPLITSTREAM_ENCRYPTION=on on the exit node")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.ENCRYPTION_MISMATCH);
    }

    @Test
    void keysAreRedacted() throws Exception {
        Leg leg = newLeg();
        assertThat(leg.client().frameKeys().toString()).isEqualTo("FrameKeys[<redacted>]");
        assertThat(leg.client().toString())
                .doesNotContain(java.util.HexFormat.of()
                        .formatHex(leg.client().frameKeys().send().bytes()));
    }

    private static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] array(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    private static boolean contains(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    @Test
    void warmUpSealsAndOpensItsMinimumAndStopsAtItsMaximum() {
        // Every frame it seals must open again (a failure throws), and the loop is bounded whatever the timings say.
        assertThat(FrameCodec.warmUp(300, 300)).isEqualTo(300);
        assertThat(FrameCodec.warmUp(100, 5_000)).isBetween(100, 5_000);
        assertThat(FrameCodec.warmUp(0, 64)).isBetween(1, 64);
    }
}
