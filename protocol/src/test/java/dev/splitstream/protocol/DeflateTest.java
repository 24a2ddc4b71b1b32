package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.Test;

class DeflateTest {
    private final Limits limits = Limits.defaults();
    private final FrameCodec plain = new FrameCodec(limits);
    private final FrameCodec deflating = plain.withDeflate(Deflate.defaults());

    private static byte[] text(int length) {
        String line = "GET /index.html HTTP/1.1\r\nHost: example.internal\r\nAccept: */*\r\n\r\n";
        return line.repeat(length / line.length() + 1).substring(0, length).getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] zlib(byte[] data) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (DeflaterOutputStream z = new DeflaterOutputStream(out, new Deflater(9))) {
            z.write(data);
        }
        return out.toByteArray();
    }

    private static byte[] compressedFrame(int streamId, long seq, byte[] body) {
        return ByteBuffer.allocate(20 + body.length)
                .put((byte) FrameCodec.MAX_VERSION)
                .put((byte) 0x12)
                .put((byte) FrameCodec.FLAG_COMPRESSED)
                .put((byte) 0)
                .putInt(streamId)
                .putLong(seq)
                .putInt(body.length)
                .put(body)
                .array();
    }

    private static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }

    private static boolean sentCompressed(FrameCodec codec, int streamId, byte[] payload) {
        ByteBuffer wire = codec.encode(new Frame.Data(streamId, 1, ByteBuffer.wrap(payload), false));
        return (wire.get(2) & FrameCodec.FLAG_COMPRESSED) != 0;
    }

    @Test
    void streamWhoseDataDoesNotCompressIsSentPlainThenRetried() {
        FrameCodec codec = plain.withDeflate(Deflate.defaults());
        for (int i = 0; i < CompressionVerdicts.MISSES_TO_STOP; i++) {
            assertThat(sentCompressed(codec, 5, random(4096, i))).isFalse();
        }
        // stream 5 is now in its skip window: even text goes out plain, while stream 7 still compresses
        assertThat(sentCompressed(codec, 5, text(4096))).isFalse();
        assertThat(sentCompressed(codec, 7, text(4096))).isTrue();
        for (int i = 1; i < CompressionVerdicts.SKIP_FRAMES; i++) {
            assertThat(sentCompressed(codec, 5, text(4096))).isFalse();
        }
        // the window is over: stream 5 is tried again, and its data now compresses
        assertThat(sentCompressed(codec, 5, text(4096))).isTrue();
    }

    @Test
    void aStreamThatStaysIncompressibleIsTriedEverLessOften() {
        CompressionVerdicts verdicts = new CompressionVerdicts();
        java.util.List<Integer> tries = new java.util.ArrayList<>();
        for (int i = 0; i < 40_000; i++) {
            if (verdicts.shouldTry(11)) {
                tries.add(i);
                verdicts.record(11, 16384, -1);
            }
        }
        // three misses, then skips of 256, 512, ... 8192 payloads with one try between them
        assertThat(tries).startsWith(0, 1, 2, 259, 772, 1797, 3846, 7943, 16136, 24329, 32522);
        assertThat(tries).hasSize(11);
    }

    @Test
    void aPayloadThatCompressesStartsTheStreamAfresh() {
        CompressionVerdicts verdicts = new CompressionVerdicts();
        for (int i = 0; i < CompressionVerdicts.MISSES_TO_STOP + CompressionVerdicts.SKIP_FRAMES; i++) {
            if (verdicts.shouldTry(5)) {
                verdicts.record(5, 16384, -1);
            }
        }
        assertThat(verdicts.shouldTry(5)).isTrue();
        verdicts.record(5, 16384, 16000); // a miss after a skip: skipped again at once, for twice as long
        for (int i = 0; i < 2 * CompressionVerdicts.SKIP_FRAMES; i++) {
            assertThat(verdicts.shouldTry(5)).isFalse();
        }
        assertThat(verdicts.shouldTry(5)).isTrue();
        verdicts.record(5, 16384, 900); // compresses: back to three misses before a skip of the first length
        for (int i = 0; i < CompressionVerdicts.MISSES_TO_STOP; i++) {
            assertThat(verdicts.shouldTry(5)).isTrue();
            verdicts.record(5, 16384, -1);
        }
        for (int i = 0; i < CompressionVerdicts.SKIP_FRAMES; i++) {
            assertThat(verdicts.shouldTry(5)).isFalse();
        }
        assertThat(verdicts.shouldTry(5)).isTrue();
    }

    @Test
    void aCompressingPayloadBetweenMissesKeepsTheStreamCompressed() {
        FrameCodec codec = plain.withDeflate(Deflate.defaults());
        for (int round = 0; round < 10; round++) {
            assertThat(sentCompressed(codec, 9, random(4096, round))).isFalse();
            assertThat(sentCompressed(codec, 9, random(4096, 100 + round))).isFalse();
            assertThat(sentCompressed(codec, 9, text(4096))).isTrue();
        }
    }

    @Test
    void compressiblePayloadTravelsCompressedAndArrivesIntact() throws Exception {
        byte[] payload = text(32 * 1024);
        Frame.Data d = new Frame.Data(3, 9, ByteBuffer.wrap(payload), true);
        ByteBuffer wire = deflating.encode(d);
        assertThat(wire.remaining()).isLessThan(payload.length / 10);
        assertThat(wire.get(2)).isEqualTo((byte) (FrameCodec.FLAG_COMPRESSED | FrameCodec.FLAG_FIN));
        Frame.Data back = (Frame.Data) deflating.decodeMessage(wire);
        assertThat(back.streamId()).isEqualTo(3);
        assertThat(back.seq()).isEqualTo(9);
        assertThat(back.fin()).isTrue();
        assertThat(back.payload()).isEqualTo(ByteBuffer.wrap(payload));
        assertThat(d.payload().remaining()).isEqualTo(payload.length); // the frame can be sent again
    }

    @Test
    void incompressibleOrSmallPayloadsTravelAsTheyAre() throws Exception {
        Frame.Data random = new Frame.Data(
                1,
                1,
                ByteBuffer.wrap(new java.util.Random(1)
                        .ints(8000, 0, 256)
                        .collect(ByteArrayOutputStream::new, ByteArrayOutputStream::write, (a, b) -> {})
                        .toByteArray()),
                false);
        assertThat(deflating.encode(random).get(2)).isZero();
        Frame.Data small = new Frame.Data(1, 1, ByteBuffer.wrap(text(511)), false);
        assertThat(deflating.encode(small).remaining()).isEqualTo(20 + 511);
        assertThat(((Frame.Data) deflating.decodeMessage(deflating.encode(small))).payload())
                .isEqualTo(ByteBuffer.wrap(text(511)));
    }

    @Test
    void aCodecWithoutDeflateRefusesCompressedFramesAndNeverCompresses() throws Exception {
        byte[] wire = compressedFrame(1, 1, zlib(text(1000)));
        assertThatThrownBy(() -> plain.decodeMessage(ByteBuffer.wrap(wire)))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("compression was not agreed");
        assertThat(plain.encode(new Frame.Data(1, 1, ByteBuffer.wrap(text(4000)), false))
                        .remaining())
                .isEqualTo(4020);
    }

    @Test
    void zipBombIsRefusedWithoutInflatingItAll() throws Exception {
        byte[] bomb = zlib(new byte[10 * 1024 * 1024]);
        assertThat(bomb.length).isLessThan(limits.maxPayload());
        assertThatThrownBy(() -> deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, bomb))))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("inflates beyond 65536")
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.LIMIT_EXCEEDED);
    }

    @Test
    void inflatedSizeUpToMaxPayloadIsAcceptedAndOneMoreIsNot() throws Exception {
        byte[] exact = zlib(new byte[limits.maxPayload()]);
        Frame.Data d = (Frame.Data) deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, exact)));
        assertThat(d.payload().remaining()).isEqualTo(limits.maxPayload());
        byte[] over = zlib(new byte[limits.maxPayload() + 1]);
        assertThatThrownBy(() -> deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, over))))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void brokenCompressedStreamsAreRefused() throws Exception {
        byte[] good = zlib(text(5000));
        byte[] truncated = java.util.Arrays.copyOf(good, good.length - 5);
        assertThatThrownBy(() -> deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, truncated))))
                .hasMessageContaining("truncated");
        byte[] garbage = text(100);
        assertThatThrownBy(() -> deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, garbage))))
                .hasMessageContaining("not a valid zlib stream");
        byte[] trailing = java.util.Arrays.copyOf(good, good.length + 3);
        assertThatThrownBy(() -> deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, trailing))))
                .hasMessageContaining("after its end");
        byte[] empty = new byte[0];
        assertThatThrownBy(() -> deflating.decodeMessage(ByteBuffer.wrap(compressedFrame(1, 1, empty))))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void forSessionCompressesOnlyWhenBothSidesAgreed() {
        HandshakeResult agreed = new HandshakeResult(
                "t", Frame.Intent.NEW, new byte[16], 2, Capabilities.DEFLATE, 0, Secret.ofText("k"), 65536, 1);
        HandshakeResult not =
                new HandshakeResult("t", Frame.Intent.NEW, new byte[16], 2, 0, 0, Secret.ofText("k"), 65536, 1);
        assertThat(FrameCodec.forSession(limits, agreed, Deflate.defaults()).deflate())
                .isEqualTo(Deflate.defaults());
        assertThat(FrameCodec.forSession(limits, agreed, null).deflate()).isNull();
        assertThat(FrameCodec.forSession(limits, not, Deflate.defaults()).deflate())
                .isNull();
    }

    @Test
    void settingsAreValidated() {
        assertThatThrownBy(() -> new Deflate(10, 512)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Deflate(1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThat(new Deflate(-1, 1).level()).isEqualTo(-1);
    }

    @Test
    void sessionsMoveCompressedStreamsByteExact() throws Exception {
        Recorder server = new Recorder();
        Link link = new Link(limits, new Recorder(), server).connect();
        Stream s = link.client.open("h", 80, new Recorder());
        link.settle();
        byte[] payload = text(300_000);
        s.write(ByteBuffer.wrap(payload));
        s.finish();
        long wireBytes = 0;
        for (int i = 0; i < 10_000 && !(link.toServer.isEmpty() && link.toClient.isEmpty()); i++) {
            ByteBuffer b;
            while ((b = link.toServer.poll()) != null) {
                Frame f = link.codec.decodeMessage(b);
                ByteBuffer compressed = deflating.encode(f);
                wireBytes += compressed.remaining();
                link.server.receive(deflating.decodeMessage(compressed));
            }
            while ((b = link.toClient.poll()) != null) {
                link.client.receive(link.codec.decodeMessage(b));
            }
            link.client.flushAck();
            link.server.flushAck();
        }
        assertThat(server.received.toByteArray()).isEqualTo(payload);
        assertThat(server.fin).isTrue();
        assertThat(wireBytes).isLessThan(payload.length / 10);
    }
}
