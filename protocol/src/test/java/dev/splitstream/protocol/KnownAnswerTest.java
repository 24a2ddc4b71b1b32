package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HexFormat;
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
            + "0101" + "00" + "00" // versions 1..1, intent NEW, no session id
            + "00000001" // capabilities: DEFLATE
            + "0000018bcfe56800" // timestamp 1700000000000
            + "0000000000000000" // last received sequence
            + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" // nonce
            + "0007" + "64656661756c74"; // token id "default"

    @Test
    void newSessionHandshakeMatchesTheDocumentedExample() throws Exception {
        Clock clock = Clock.fixed(Instant.ofEpochMilli(1_700_000_000_000L), ZoneOffset.UTC);
        Secret token = Secret.ofText("example-token-secret");
        FrameCodec codec = new FrameCodec(Limits.defaults());
        ClientHandshake client = new ClientHandshake(
                "default", token, Frame.Intent.NEW, null, 0, Capabilities.DEFLATE, clock, new CountingRandom(0x00));
        ServerHandshake server = new ServerHandshake(
                id -> Optional.of(token),
                sid -> Optional.empty(),
                new ReplayGuard(java.time.Duration.ofMinutes(4), 10, clock),
                Limits.defaults(),
                0,
                clock,
                new CountingRandom(0x80));
        Frame.Challenge challenge = server.onHello(client.hello());
        Frame.Proof proof = client.onChallenge(challenge);
        HandshakeResult atServer = server.onProof(proof);
        Frame.Welcome welcome = server.welcome(0);
        HandshakeResult atClient = client.onWelcome(welcome);

        assertThat(hex(codec.encode(client.hello()))).isEqualTo(HELLO);
        assertThat(hex(codec.encode(challenge)))
                .isEqualTo("0102000000000000000000000000000000000025" + "0100000000"
                        + "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        assertThat(HEX.formatHex(proof.mac()))
                .isEqualTo("1f5de482e11c37a29a0defcbe2c0b169d3afea49000082ed6d44cfc15450dc63");
        assertThat(HEX.formatHex(atServer.sessionId())).isEqualTo("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
        assertThat(HEX.formatHex(atServer.sessionKey().bytes()))
                .isEqualTo("0b661a3f82e5f0b782aa818b327a990b20fa02816cc3dcad6ead888dd65947b9");
        assertThat(hex(codec.encode(welcome)))
                .isEqualTo("0104000000000000000000000000000000000040" + "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
                        + "0000000000000000" + "00010000" + "00040000"
                        + "1e57c5a6f8042c577db3dafa8733369c805cc7bd7746988cfbec56dab3c218c3");
        assertThat(atClient.sessionKey()).isEqualTo(atServer.sessionKey());
    }
}
