package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class FrameCodecTest {
    private final FrameCodec codec = new FrameCodec(Limits.defaults());

    static Stream<Frame> everyType() {
        return Frames.everyType().stream();
    }

    static void assertSameFrame(Frame actual, Frame expected) {
        assertThat(actual)
                .usingRecursiveComparison()
                .withEqualsForType(ByteBuffer::equals, ByteBuffer.class)
                .isEqualTo(expected);
    }

    private static byte[] toArray(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    @Test
    void sampleFramesCoverEveryType() {
        Set<FrameType> seen = EnumSet.noneOf(FrameType.class);
        Frames.everyType().forEach(f -> seen.add(f.type()));
        assertThat(seen).containsExactlyInAnyOrder(FrameType.values());
    }

    @ParameterizedTest
    @MethodSource("everyType")
    void everyFrameTypeRoundTripsThroughDecodeMessage(Frame frame) throws Exception {
        ByteBuffer encoded = codec.encode(frame);
        assertThat(encoded.remaining()).isEqualTo(codec.encodedLength(frame));
        Frame decoded = codec.decodeMessage(encoded);
        assertSameFrame(decoded, frame);
        assertThat(encoded.hasRemaining()).isFalse();
        assertThat(toArray(codec.encode(decoded))).isEqualTo(toArray(codec.encode(frame)));
    }

    @Test
    void headerIsTwentyBytesBigEndianWithFinFlag() {
        ByteBuffer b =
                codec.encode(new Frame.Data(0x01020304, 0x05060708090A0B0CL, ByteBuffer.wrap(new byte[] {9}), true));
        assertThat(toArray(b)).containsExactly(2, 0x12, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 1, 9);
    }

    @Test
    void decodeNextReadsFramesBackToBackAndWaitsForWholeFrames() throws Exception {
        List<Frame> frames = Frames.everyType();
        int total = frames.stream().mapToInt(codec::encodedLength).sum();
        ByteBuffer all = ByteBuffer.allocate(total);
        frames.forEach(f -> codec.encode(f, all));
        all.flip();
        // feed the stream in odd-sized chunks, as an HTTP body arrives
        ByteBuffer window = ByteBuffer.allocate(total);
        window.flip();
        List<Frame> decoded = new ArrayList<>();
        int fed = 0;
        while (fed < total) {
            int chunk = Math.min(777, total - fed);
            window.compact();
            window.put(all.slice(fed, chunk));
            window.flip();
            fed += chunk;
            Frame f;
            while (true) {
                int before = window.position();
                f = codec.decodeNext(window);
                if (f == null) {
                    assertThat(window.position()).isEqualTo(before);
                    break;
                }
                // payload slices must survive the compaction above: copy for the comparison
                decoded.add(
                        f instanceof Frame.Data d
                                ? new Frame.Data(d.streamId(), d.seq(), ByteBuffer.wrap(toArray(d.payload())), d.fin())
                                : f);
            }
        }
        assertThat(decoded).hasSize(frames.size());
        for (int i = 0; i < frames.size(); i++) {
            assertSameFrame(decoded.get(i), frames.get(i));
        }
    }

    @Test
    void decodedDataPayloadIsASliceOfTheInputNotACopy() throws Exception {
        byte[] wire = toArray(codec.encode(new Frame.Data(1, 1, ByteBuffer.wrap(Frames.bytes(1000, 3)), false)));
        Frame.Data d = (Frame.Data) codec.decodeMessage(ByteBuffer.wrap(wire));
        assertThat(d.payload().hasArray()).isTrue();
        assertThat(d.payload().array()).isSameAs(wire);
        assertThat(d.payload().arrayOffset()).isEqualTo(FrameCodec.HEADER_LENGTH);
    }

    @Test
    void encodingLeavesThePayloadPositionAndLimitAlone() {
        ByteBuffer payload = ByteBuffer.wrap(Frames.bytes(100, 1)).position(10).limit(90);
        Frame.Data d = new Frame.Data(1, 1, payload, false);
        codec.encode(d);
        codec.encode(d);
        assertThat(payload.position()).isEqualTo(10);
        assertThat(payload.limit()).isEqualTo(90);
        assertThat(codec.encodedLength(d)).isEqualTo(FrameCodec.HEADER_LENGTH + 80);
    }

    @Test
    void encodeHeaderWritesTheHeaderOnlyForDataSoThePayloadCanTravelSeparately() throws Exception {
        Frame.Data d = new Frame.Data(1, 1, ByteBuffer.wrap(Frames.bytes(500, 1)), false);
        ByteBuffer header = ByteBuffer.allocate(FrameCodec.HEADER_LENGTH);
        codec.encodeHeader(d, header);
        assertThat(header.hasRemaining()).isFalse();
        ByteBuffer whole = ByteBuffer.allocate(520)
                .put(header.flip())
                .put(d.payload().duplicate())
                .flip();
        assertSameFrame(codec.decodeMessage(whole), d);
    }

    @Test
    void encodeRefusesBodiesLargerThanMaxPayload() {
        Frame.Data d = new Frame.Data(1, 1, ByteBuffer.allocate(65537), false);
        assertThatThrownBy(() -> codec.encode(d)).isInstanceOf(IllegalArgumentException.class);
    }

    // ------------------------------------------------------------------ malformed input

    private AbstractThrowableAssert<?, ? extends Throwable> assertRejected(byte[] wire) {
        return assertThatThrownBy(() -> codec.decodeMessage(ByteBuffer.wrap(wire)))
                .isInstanceOf(ProtocolException.class);
    }

    private byte[] wire(Frame f) {
        return toArray(codec.encode(f));
    }

    private static byte[] header(int version, int type, int flags, int streamId, long seq, long length) {
        return ByteBuffer.allocate(20)
                .put((byte) version)
                .put((byte) type)
                .put((byte) flags)
                .put((byte) 0)
                .putInt(streamId)
                .putLong(seq)
                .putInt((int) length)
                .array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        return ClientHandshake.concat(a, b);
    }

    @ParameterizedTest
    @MethodSource("everyType")
    void everyTruncationOfEveryFrameIsRejectedByDecodeMessageAndAwaitedByDecodeNext(Frame frame) throws Exception {
        byte[] full = wire(frame);
        for (int cut = 0; cut < full.length; cut += Math.max(1, full.length / 300)) {
            byte[] partial = java.util.Arrays.copyOf(full, cut);
            assertRejected(partial).hasMessageContaining("truncated");
            assertThat(codec.decodeNext(ByteBuffer.wrap(partial))).isNull();
        }
    }

    @Test
    void trailingBytesAfterAFrameInAMessageAreRejected() {
        assertRejected(concat(wire(new Frame.Ping(1)), new byte[1])).hasMessageContaining("one frame per message");
    }

    @Test
    void oversizedLengthIsRejectedFromTheHeaderAloneBeforeAllocating() {
        byte[] h = header(2, 0x12, 0, 1, 1, 0xFFFF_FFFFL);
        assertThatThrownBy(() -> codec.decodeNext(ByteBuffer.wrap(h)))
                .isInstanceOf(ProtocolException.class)
                .hasMessage("frame length 4294967295 exceeds 65536")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.LIMIT_EXCEEDED);
        byte[] justOver = header(2, 0x12, 0, 1, 1, 65537);
        assertThatThrownBy(() -> codec.decodeNext(ByteBuffer.wrap(justOver))).isInstanceOf(ProtocolException.class);
    }

    @Test
    void smallerConfiguredMaxPayloadIsEnforced() {
        FrameCodec small = new FrameCodec(Limits.defaults().withMaxPayload(1024));
        byte[] w = wire(new Frame.Data(1, 1, ByteBuffer.allocate(1025), false));
        assertThatThrownBy(() -> small.decodeMessage(ByteBuffer.wrap(w))).hasMessageContaining("exceeds 1024");
    }

    @Test
    void unknownTypeIsRejected() {
        for (int type : new int[] {0x00, 0x05, 0x0F, 0x19, 0x7F, 0xFF}) {
            assertRejected(header(2, type, 0, 0, 0, 0)).hasMessageContaining("unknown frame type");
        }
    }

    @Test
    void unknownVersionIsRejectedNamingTheVersions() {
        byte[] w = wire(new Frame.Ping(1));
        w[0] = 3;
        assertRejected(w)
                .hasMessageContaining("version 3")
                .hasMessageContaining("2..2")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.VERSION_MISMATCH);
        w[0] = 0;
        assertRejected(w).hasMessageContaining("version 0");
    }

    @Test
    void helloAndCloseMustCarryTheHandshakeVersion() {
        for (Frame f : List.of(Frames.everyType().get(0), new Frame.Close(CloseCode.NORMAL, "bye"))) {
            byte[] w = wire(f);
            assertThat(w[0]).isEqualTo((byte) FrameCodec.HANDSHAKE_VERSION);
            w[0] = 7;
            assertRejected(w).hasMessageContaining("header version 7");
        }
    }

    @Test
    void reservedByteAndUnknownFlagsAreRejected() {
        byte[] w = wire(new Frame.Ping(1));
        w[3] = 1;
        assertRejected(w).hasMessageContaining("reserved");
        byte[] fin = wire(new Frame.Ping(1));
        fin[2] = FrameCodec.FLAG_FIN;
        assertRejected(fin).hasMessageContaining("flags");
        byte[] data = wire(new Frame.Data(1, 1, ByteBuffer.allocate(3), false));
        data[2] = (byte) 0x80;
        assertRejected(data).hasMessageContaining("flags");
        data[2] = FrameCodec.FLAG_COMPRESSED;
        assertRejected(data).hasMessageContaining("COMPRESSED");
    }

    @Test
    void streamFramesNeedAStreamIdAndASequenceNumber() {
        byte[] w = wire(new Frame.Accept(1, 1, 10));
        w[7] = 0;
        assertRejected(w).hasMessageContaining("stream id 0");
        byte[] neg = wire(new Frame.Accept(1, 1, 10));
        neg[4] = (byte) 0x80;
        assertRejected(neg).hasMessageContaining("stream id 2147483649");
        byte[] noSeq = wire(new Frame.WindowUpdate(1, 1, 10));
        noSeq[15] = 0;
        assertRejected(noSeq).hasMessageContaining("sequence number 0");
    }

    @Test
    void sessionFramesCarryNeitherStreamIdNorSequenceNumber() {
        byte[] w = wire(new Frame.Ack(3));
        w[7] = 1;
        assertRejected(w).hasMessageContaining("stream id 1");
        byte[] s = wire(new Frame.Pong(3));
        s[15] = 1;
        assertRejected(s).hasMessageContaining("sequence number 1");
    }

    @Test
    void fixedSizeBodiesWithAnotherLengthAreRejected() {
        int[][] cases = {{0x02, 38}, {0x03, 31}, {0x04, 75}, {0x11, 5}, {0x13, 3}, {0x14, 9}, {0x16, 7}, {0x17, 0}};
        for (int[] c : cases) {
            boolean stream = c[0] == 0x11 || c[0] == 0x13;
            byte[] w = concat(header(2, c[0], 0, stream ? 1 : 0, stream ? 1 : 0, c[1]), new byte[c[1]]);
            assertRejected(w).hasMessageContaining("body must be");
        }
        assertRejected(concat(header(2, 0x15, 0, 1, 1, 3), new byte[3])).hasMessageContaining("at least 4");
        assertRejected(concat(header(2, 0x10, 0, 1, 1, 7), new byte[7])).hasMessageContaining("at least 8");
        assertRejected(concat(header(1, 0x01, 0, 0, 0, 10), new byte[10])).hasMessageContaining("at least");
    }

    @Test
    void stringLengthBeyondTheBodyIsRejected() {
        byte[] w = wire(new Frame.Reset(1, 1, ResetCode.INTERNAL, "abc"));
        w[20 + 3] = 4; // message length 4, but 3 bytes follow
        assertRejected(w).hasMessageContaining("announces 4 bytes");
        byte[] shorter = wire(new Frame.Close(CloseCode.NORMAL, "abc"));
        shorter[20 + 3] = 2; // one stray byte left over
        assertRejected(shorter).hasMessageContaining("trailing");
    }

    @Test
    void stringsLongerThanTheirLimitAreRejected() {
        String host = "h".repeat(256);
        assertRejected(wire(new Frame.Open(1, 1, host, 80, 10))).hasMessageContaining("host of 256 bytes exceeds 255");
        String msg = "m".repeat(1025);
        assertRejected(wire(new Frame.Close(CloseCode.NORMAL, msg))).hasMessageContaining("exceeds 1024");
        Frame.Hello h = new Frame.Hello(1, 1, "t".repeat(129), new byte[32], 0, Frame.Intent.NEW, new byte[0], 0, 0);
        assertRejected(wire(h)).hasMessageContaining("token id of 129 bytes");
    }

    @Test
    void invalidUtf8IsRejected() {
        byte[] w = wire(new Frame.Open(1, 1, "ab", 80, 10));
        w[w.length - 1] = (byte) 0xC3; // a lead byte with no continuation
        assertRejected(w).hasMessageContaining("UTF-8");
    }

    @Test
    void emptyHostAndZeroWindowsAreRejected() {
        byte[] emptyHost = concat(header(2, 0x10, 0, 1, 1, 8), new byte[] {0, 80, 0, 0, 0, 10, 0, 0});
        assertRejected(emptyHost).hasMessageContaining("host is empty");
        assertRejected(wire(new Frame.Accept(1, 1, 0))).hasMessageContaining("ACCEPT window 0");
        assertRejected(wire(new Frame.WindowUpdate(1, 1, -1))).hasMessageContaining("4294967295");
        assertRejected(wire(new Frame.Open(1, 1, "h", 80, 0))).hasMessageContaining("OPEN window");
    }

    @Test
    void unknownEnumCodesAreRejected() {
        byte[] reset = wire(new Frame.Reset(1, 1, ResetCode.INTERNAL, ""));
        reset[21] = 99;
        assertRejected(reset).hasMessageContaining("unknown RESET code 99");
        byte[] close = wire(new Frame.Close(CloseCode.NORMAL, ""));
        close[21] = 77;
        assertRejected(close).hasMessageContaining("unknown CLOSE code 77");
        byte[] hello = wire(Frames.everyType().get(0));
        hello[22] = 9;
        assertRejected(hello).hasMessageContaining("unknown HELLO intent 9");
    }

    private static Frame.Expose expose(Frame.ExposedService... services) {
        return new Frame.Expose("agent", false, List.of(services));
    }

    private static Frame.ExposedService tcp(String name, int port) {
        return new Frame.ExposedService(name, Frame.ServiceKind.TCP, port, "127.0.0.1:22");
    }

    @Test
    void exposeWithBadNamesOrKindsIsRejected() {
        assertRejected(wire(new Frame.Expose("", false, List.of()))).hasMessageContaining("agent name");
        assertRejected(wire(new Frame.Expose("a b", false, List.of()))).hasMessageContaining("agent name");
        assertRejected(wire(expose(tcp("SSH", 0)))).hasMessageContaining("DNS label");
        assertRejected(wire(expose(tcp("-ssh", 0)))).hasMessageContaining("DNS label");
        assertRejected(wire(expose(tcp("a".repeat(64), 0)))).hasMessageContaining("exceeds 63");
        assertRejected(wire(expose(tcp("ssh", 0), tcp("ssh", 1)))).hasMessageContaining("twice");
        assertRejected(wire(expose(new Frame.ExposedService("web", Frame.ServiceKind.HTTP, 80, "http://h:80"))))
                .hasMessageContaining("not TCP");
        byte[] kind = wire(expose(tcp("ssh", 0)));
        // header 20, flags 1, agent 2+5, count 2: the first service's kind
        kind[30] = 9;
        assertRejected(kind).hasMessageContaining("unknown kind 9");
        byte[] flags = wire(expose());
        flags[20] = 2;
        assertRejected(flags).hasMessageContaining("EXPOSE has unknown flags 0x2");
    }

    @Test
    void exposeRouteTokenRoundTripsAndIsOptional() throws Exception {
        Frame.Expose with = new Frame.Expose(
                "agent",
                false,
                List.of(new Frame.ExposedService("web", Frame.ServiceKind.HTTP, 0, "http://127.0.0.1:80")),
                "r".repeat(16));
        assertThat(codec.decodeMessage(ByteBuffer.wrap(wire(with)))).isEqualTo(with);
        Frame.Expose without = expose(tcp("ssh", 0));
        assertThat(((Frame.Expose) codec.decodeMessage(ByteBuffer.wrap(wire(without)))).routeToken())
                .isEmpty();
    }

    @Test
    void exposeRouteTokenIsNeverPrinted() {
        Frame.Expose with = new Frame.Expose("agent", false, List.of(), "secret-route-token-0123");
        assertThat(with.toString()).doesNotContain("secret-route-token").contains("<redacted>");
    }

    @Test
    void exposeWithShortOrOversizedRouteTokenIsRejected() {
        assertRejected(wire(new Frame.Expose("agent", false, List.of(), "short")))
                .hasMessageContaining("at least 16");
        assertRejected(wire(new Frame.Expose("agent", false, List.of(), "r".repeat(129))))
                .hasMessageContaining("exceeds 128");
        assertRejected(wire(new Frame.Expose("agent", true, List.of(), "r".repeat(16))))
                .hasMessageContaining("route token at once");
    }

    @Test
    void exposeReleasingAndListingAtOnceIsRejected() {
        assertRejected(wire(new Frame.Expose("agent", true, List.of(tcp("ssh", 0)))))
                .hasMessageContaining("releases and lists");
    }

    @Test
    void exposeWithMoreServicesThanTheLimitIsRejectedBeforeReadingThem() {
        byte[] w = wire(expose());
        w[28] = 1; // count, big-endian u16 at 28..29 (header 20, flags 1, agent 2+5): 256 services
        w[29] = 0;
        assertRejected(w).hasMessageContaining("256 services, at most 64");
    }

    @Test
    void exposeResultWithUnknownStatusOrBadNameIsRejected() {
        byte[] w = wire(new Frame.ExposeResult(List.of(new Frame.Grant("ssh", true, 1, ""))));
        w[22] = 2; // header 20, count 2: the first grant's status
        assertRejected(w).hasMessageContaining("unknown status 2");
        assertRejected(wire(new Frame.ExposeResult(List.of(new Frame.Grant("No", true, 1, "")))))
                .hasMessageContaining("invalid service name");
        byte[] many = wire(new Frame.ExposeResult(List.of()));
        many[20] = 1; // 256 grants announced
        assertRejected(many).hasMessageContaining("at most 64");
    }

    @Test
    void helloSessionIdMustMatchItsIntent() {
        byte[] hello = wire(Frames.everyType().get(0)); // NEW, no session id
        hello[22] = (byte) Frame.Intent.RESUME.code;
        assertRejected(hello).hasMessageContaining("RESUME with a session id of 0 bytes");
        byte[] odd = wire(Frames.everyType().get(1));
        odd[23] = 15;
        assertRejected(odd).hasMessageContaining("length 15");
        byte[] range = wire(Frames.everyType().get(0));
        range[20] = 4; // min 4 > max 3
        assertRejected(range).hasMessageContaining("version range 4..3");
    }

    @Test
    void welcomeWithImpossibleLimitsIsRejected() {
        byte[] w = wire(new Frame.Welcome(new byte[16], 0, new byte[32], 65536, 1000));
        w[20 + 16 + 8] = (byte) 0xFF; // max payload huge
        assertRejected(w).hasMessageContaining("max payload");
    }

    @Test
    void encodeRefusesFieldsThatDoNotFit() {
        assertThatThrownBy(() -> codec.encode(new Frame.Proof(new byte[31])))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> codec.encode(new Frame.Open(1, 1, "h", 65536, 1)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> codec.encode(new Frame.Challenge(256, new byte[32], 0)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void stringsAreLengthPrefixedUtf8() {
        byte[] w = wire(new Frame.Close(CloseCode.AUTH_FAILED, "é"));
        assertThat(java.util.Arrays.copyOfRange(w, 20, w.length)).containsExactly(0, 1, 0, 2, 0xC3 & 0xFF, 0xA9 & 0xFF);
        assertThat(new String(w, 24, 2, StandardCharsets.UTF_8)).isEqualTo("é");
    }

    /** The hand-written checks replaced these regular expressions (per routed request, on both nodes): same verdicts. */
    @Test
    void nameAndMethodChecksAgreeWithTheirRegularExpressions() {
        java.util.regex.Pattern method = java.util.regex.Pattern.compile("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}");
        java.util.regex.Pattern service = java.util.regex.Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
        java.util.regex.Pattern agent = java.util.regex.Pattern.compile("[A-Za-z0-9._-]{1,64}");
        String alphabet = "aZ09-._!#~|`^ /:\u00e9\u0000\u007fA-";
        java.util.Random random = new java.util.Random(8);
        List<String> samples = new ArrayList<>(List.of(
                "",
                "GET",
                "get",
                "M-SEARCH",
                "PROPFIND",
                "a",
                "-",
                "a-",
                "-a",
                "a-b",
                "web",
                "web.1",
                "a".repeat(16),
                "a".repeat(17),
                "a".repeat(63),
                "a".repeat(64),
                "a".repeat(65),
                "x".repeat(62) + "-"));
        for (int i = 0; i < 20_000; i++) {
            StringBuilder b = new StringBuilder();
            int length = random.nextInt(70);
            for (int j = 0; j < length; j++) {
                b.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            samples.add(b.toString());
        }
        for (String s : samples) {
            assertThat(FrameCodec.isMethod(s))
                    .as("method %s", s)
                    .isEqualTo(method.matcher(s).matches());
            assertThat(FrameCodec.isServiceName(s))
                    .as("service %s", s)
                    .isEqualTo(service.matcher(s).matches());
            assertThat(FrameCodec.isAgentName(s))
                    .as("agent %s", s)
                    .isEqualTo(agent.matcher(s).matches());
        }
        assertThat(FrameCodec.isMethod(null)).isFalse();
        assertThat(FrameCodec.isServiceName(null)).isFalse();
        assertThat(FrameCodec.isAgentName(null)).isFalse();
    }

    @Test
    void utf8LengthIsWhatGetBytesMakes() {
        for (String s : List.of(
                "",
                "/index.html",
                "/caf\u00e9",
                "/\u20ac",
                "/\ud83d\ude00",
                "/lone\ud83d",
                "/lone\ude00x",
                "\ud83d\ud83d\ude00",
                "\u07ff\u0800\uffff")) {
            assertThat(FrameCodec.utf8Bytes(s)).as(s).isEqualTo(s.getBytes(StandardCharsets.UTF_8).length);
        }
    }

    @Test
    void nonAsciiStringsStillDecode() throws Exception {
        Frame.RouteLog r =
                new Frame.RouteLog("web", Frame.RouteVia.TOKEN, "GET", "/caf\u00e9/\ud83d\ude00", 200, 5, 0, 10, 0);
        Frame back = codec.decodeMessage(ByteBuffer.wrap(wire(r)));
        assertThat(back).isEqualTo(r);
    }
}
