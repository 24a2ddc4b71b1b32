package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The worked example of docs/PROTOCOL.md: fixed inputs, exact bytes and MACs, so another implementation can check itself. */
class KnownAnswerTest {
    private static final HexFormat HEX = HexFormat.of();

    /** Hands out bytes 0x00, 0x01, 0x02... from a starting value, so nonces and ids are predictable. */
    private static final class CountingRandom extends SecureRandom {
        private int next;

        CountingRandom(int start) {
            this.next = start;
        }

        @Override
        public void nextBytes(byte[] bytes) {
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) next++;
            }
        }
    }

    private static String hex(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return HEX.formatHex(out);
    }

    static final String HELLO = "0101000000000000000000000000000000000041" // header: v1 HELLO, 65-byte body
            + "0202" + "00" + "00" // versions 2..2, intent NEW, no session id
            + "00000005" // capabilities: DEFLATE | ENCRYPTED
            + "0000018bcfe56800" // timestamp 1700000000000
            + "0000000000000000" // last received sequence
            + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" // nonce
            + "0007" + "64656661756c74"; // token id "default"

    /** Every value below was computed independently by protocol/src/test/python/known_answer.py. */
    @Test
    void newSessionHandshakeMatchesTheDocumentedExample() throws Exception {
        Clock clock = Clock.fixed(Instant.ofEpochMilli(1_700_000_000_000L), ZoneOffset.UTC);
        Secret token = Secret.ofText("example-token-secret");
        FrameCodec codec = new FrameCodec(Limits.defaults());
        ClientHandshake client = new ClientHandshake(
                "default",
                token,
                Frame.Intent.NEW,
                null,
                0,
                Capabilities.DEFLATE | Capabilities.ENCRYPTED,
                clock,
                new CountingRandom(0x00));
        ServerHandshake server = new ServerHandshake(
                id -> Optional.of(token),
                sid -> Optional.empty(),
                new ReplayGuard(java.time.Duration.ofMinutes(4), 10, clock),
                Limits.defaults(),
                Capabilities.ENCRYPTED,
                clock,
                new CountingRandom(0x80));
        Frame.Challenge challenge = server.onHello(client.hello());
        Frame.Proof proof = client.onChallenge(challenge);
        HandshakeResult atServer = server.onProof(proof);
        Frame.Welcome welcome = server.welcome(0);
        HandshakeResult atClient = client.onWelcome(welcome);

        assertThat(hex(codec.encode(client.hello()))).isEqualTo(HELLO);
        assertThat(hex(codec.encode(challenge)))
                .isEqualTo("0202000000000000000000000000000000000025" + "0200000004"
                        + "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        assertThat(HEX.formatHex(proof.mac()))
                .isEqualTo("199000ef5e3df74f4bedcc8ab0781b87c0e121daa4ab5e786fe766f31b8c25eb");
        assertThat(HEX.formatHex(atServer.sessionId())).isEqualTo("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
        assertThat(HEX.formatHex(atServer.sessionKey().bytes()))
                .isEqualTo("0b661a3f82e5f0b782aa818b327a990b20fa02816cc3dcad6ead888dd65947b9");
        assertThat(hex(codec.encode(welcome)))
                .isEqualTo("0204000000000000000000000000000000000040" + "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
                        + "0000000000000000" + "00010000" + "00040000"
                        + "9cc4b9d4b0d272c30d948fc79cf4fe30030c4d9a4d978958caf8b54e3ce5a0c1");
        assertThat(atClient.sessionKey()).isEqualTo(atServer.sessionKey());

        // Section 12: this leg's frame keys, an epoch key, and the first sealed frame of each side.
        String c2s = "6f33bbc5c041eca19e491c8e277d65b071b6935bdd16eb0cb1dc793d569e38b4";
        String s2c = "2f163d762a1102e945731efcfbb77187dfa2d72a5053166f58bb9e3a826425c7";
        assertThat(HEX.formatHex(atClient.frameKeys().send().bytes())).isEqualTo(c2s);
        assertThat(HEX.formatHex(atClient.frameKeys().receive().bytes())).isEqualTo(s2c);
        assertThat(HEX.formatHex(atServer.frameKeys().send().bytes())).isEqualTo(s2c);
        assertThat(HEX.formatHex(atServer.frameKeys().receive().bytes())).isEqualTo(c2s);
        assertThat(HEX.formatHex(FrameKeys.epochKey(HEX.parseHex(c2s), 0)))
                .isEqualTo("902b18527dde4d647ec32a3462a9d269f61bae77e6c28428070a60ec3a25ae5f");
        assertThat(HEX.formatHex(FrameKeys.epochKey(HEX.parseHex(c2s), 1)))
                .isEqualTo("9684aaa327f59e35f6e7be9dc0e4e04f722980a8ca8f3b300e02c4c4b8bba657");

        FrameCodec clientLeg = FrameCodec.forSession(Limits.defaults(), atClient, Deflate.defaults());
        FrameCodec serverLeg = FrameCodec.forSession(Limits.defaults(), atServer, Deflate.defaults());
        ByteBuffer sealedData = clientLeg.encode(
                new Frame.Data(1, 1, ByteBuffer.wrap("hello".getBytes(StandardCharsets.US_ASCII)), false));
        assertThat(hex(sealedData))
                .isEqualTo(
                        "0230000000000000000000000000000100000029" // v2 SEALED (0x30), counter 1, 41-byte body
                                + "62d3c9e494b89fc423e8b230409410b309056ef41e8094e0ae" // the 25-byte DATA frame,
                                // encrypted
                                + "c9e3f1dcc0801e128582b50a2a5655bf"); // ...and the 16-byte tag
        ByteBuffer sealedPing = serverLeg.encode(new Frame.Ping(42));
        assertThat(hex(sealedPing))
                .isEqualTo("023000000000000000000000000000010000002c"
                        + "9cc725ca51940ce157d8f9c06966ec782ba32f314a82fd13f2d54ed5526169bbefe2165f3576d788e38b8d74");
        Frame.Data opened = (Frame.Data) serverLeg.decodeMessage(sealedData);
        assertThat(StandardCharsets.US_ASCII.decode(opened.payload()).toString())
                .isEqualTo("hello");
        assertThat(clientLeg.decodeMessage(sealedPing)).isEqualTo(new Frame.Ping(42));
    }

    /** Section 3's ROUTE_LOG example, unsealed; also computed by known_answer.py. */
    @Test
    void routeLogMatchesTheDocumentedExample() throws Exception {
        FrameCodec codec = new FrameCodec(Limits.defaults());
        Frame.RouteLog report =
                new Frame.RouteLog("web", Frame.RouteVia.TOKEN, "GET", "/index.html", 200, 3100, 0, 1234, 0);
        String wire = "0222000000000000000000000000000000000036" // v2 ROUTE_LOG (0x22), unnumbered, 54-byte body
                + "01" + "00c8" + "00000000" // via TOKEN, status 200, skipped 0
                + "0000000000000c1c" + "0000000000000000" + "00000000000004d2" // 3100 us, 0 bytes in, 1234 out
                + "0003" + "776562" + "0003" + "474554" + "000b" + "2f696e6465782e68746d6c"; // web GET /index.html
        assertThat(hex(codec.encode(report))).isEqualTo(wire);
        assertThat(codec.decodeMessage(ByteBuffer.wrap(HEX.parseHex(wire)))).isEqualTo(report);
    }

    /** Section 3's ROUTE_LOGS example (the ROUTE_LOG above and a second report), unsealed; also known_answer.py's. */
    @Test
    void routeLogsMatchesTheDocumentedExample() throws Exception {
        FrameCodec codec = new FrameCodec(Limits.defaults());
        Frame.RouteLogs batch = new Frame.RouteLogs(List.of(
                new Frame.RouteLog("web", Frame.RouteVia.TOKEN, "GET", "/index.html", 200, 3100, 0, 1234, 0),
                new Frame.RouteLog("web", Frame.RouteVia.HOST, "POST", "/api", 201, 850, 12, 2, 3)));
        String wire = "0223000000000000000000000000000000000068" // v2 ROUTE_LOGS (0x23), unnumbered, 104-byte body
                + "0002" // two reports
                + "01" + "00c8" + "00000000" + "0000000000000c1c" + "0000000000000000" + "00000000000004d2"
                + "0003" + "776562" + "0003" + "474554" + "000b" + "2f696e6465782e68746d6c" // the ROUTE_LOG body above
                + "02" + "00c9" + "00000003" // via HOST, status 201, 3 skipped before it
                + "0000000000000352" + "000000000000000c" + "0000000000000002" // 850 us, 12 bytes in, 2 out
                + "0003" + "776562" + "0004" + "504f5354" + "0004" + "2f617069"; // web POST /api
        assertThat(hex(codec.encode(batch))).isEqualTo(wire);
        assertThat(codec.decodeMessage(ByteBuffer.wrap(HEX.parseHex(wire)))).isEqualTo(batch);
    }
}
