package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.security.SecureRandom;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sessions carry on across dropped connections: a seeded in-memory transport drops the connection at random points,
 * losing whatever was in flight, and the sessions reconnect through a real RESUME handshake; every byte of every stream
 * in both directions must arrive exactly once, in order (SHA-256 of each direction compared).
 */
class ResumptionTest {
    private static final Limits LIMITS = new Limits(
            16 * 1024, 255, 1024, 128, 64, 64 * 1024, 512 * 1024, 1024 * 1024, java.time.Duration.ofMinutes(2));

    private final MutableClock wall = MutableClock.atFixedStart();
    private final ReplayGuard replay = ReplayGuard.forLimits(LIMITS, 10_000, wall);
    private final SecureRandom secure = new SecureRandom();
    private final Set<String> legKeys = new HashSet<>();

    /**
     * Reconnects as the nodes do: a RESUME handshake keyed by the session key, then attach on both sides; with
     * {@code encrypted} each connection's frames are sealed under the keys of its own handshake.
     */
    private void resume(Link link, boolean encrypted) throws ProtocolException {
        Session client = link.client;
        Session server = link.server;
        int caps = encrypted ? Capabilities.ENCRYPTED : 0;
        ClientHandshake ch = new ClientHandshake(
                "t",
                client.sessionKey(),
                Frame.Intent.RESUME,
                client.id(),
                client.lastReceivedSeq(),
                caps,
                wall,
                secure);
        ServerHandshake sh = new ServerHandshake(
                id -> Optional.empty(),
                sid -> java.util.Arrays.equals(sid, server.id()) ? Optional.of(server.sessionKey()) : Optional.empty(),
                replay,
                LIMITS,
                caps,
                wall,
                secure);
        FrameCodec codec = link.codec;
        Frame.Challenge challenge = sh.onHello(codec.decodeMessage(codec.encode(ch.hello())));
        HandshakeResult atServer = sh.onProof(codec.decodeMessage(codec.encode(ch.onChallenge(challenge))));
        HandshakeResult atClient =
                ch.onWelcome(codec.decodeMessage(codec.encode(sh.welcome(server.lastReceivedSeq()))));
        assertThat(atClient.encrypted()).isEqualTo(encrypted);
        if (encrypted) {
            // Every connection has keys of its own (fresh nonces in its handshake): no key, so no nonce, is reused.
            assertThat(legKeys.add(
                            HexFormat.of().formatHex(atClient.frameKeys().send().bytes())))
                    .isTrue();
            assertThat(legKeys.add(HexFormat.of()
                            .formatHex(atClient.frameKeys().receive().bytes())))
                    .isTrue();
        }
        link.connect(
                atClient.peerLastReceivedSeq(),
                atServer.peerLastReceivedSeq(),
                FrameCodec.forSession(LIMITS, atClient, null),
                FrameCodec.forSession(LIMITS, atServer, null));
    }

    private record Outcome(long bytes, int drops, long resent) {}

    private Outcome run(long seed, int clientStreams, int serverStreams, long maxPerStream) throws Exception {
        return run(seed, clientStreams, serverStreams, maxPerStream, false);
    }

    private Outcome run(long seed, int clientStreams, int serverStreams, long maxPerStream, boolean encrypted)
            throws Exception {
        Random random = new Random(seed);
        Traffic.Side clientSide = new Traffic.Side("client", seed * 31 + 1, maxPerStream);
        Traffic.Side serverSide = new Traffic.Side("server", seed * 31 + 2, maxPerStream);
        clientSide.autoConsume = false;
        serverSide.autoConsume = false;
        Link link = new Link(LIMITS, LIMITS, clientSide, serverSide, System::nanoTime);
        link.record = false;
        if (encrypted) {
            resume(link, true); // the first connection is protected too (keys of its own handshake)
        } else {
            link.connect();
        }
        for (int i = 0; i < clientStreams; i++) {
            clientSide.open(link.client, (long) (random.nextDouble() * maxPerStream));
        }
        for (int i = 0; i < serverStreams; i++) {
            serverSide.open(link.server, (long) (random.nextDouble() * maxPerStream));
        }
        boolean connected = true;
        int drops = 0;
        for (long step = 0; step < 50_000_000L; step++) {
            if (clientSide.done() && serverSide.done()) {
                break;
            }
            int action = random.nextInt(10_000);
            if (connected && action < 100) {
                link.drop(); // mid-transfer: frames in flight are lost
                connected = false;
                drops++;
            } else if (!connected) {
                if (action < 500) {
                    resume(link, encrypted);
                    connected = true;
                } else {
                    // writers keep writing while detached, into the bounded resend buffer
                    clientSide.produceAll();
                    serverSide.produceAll();
                }
            } else if (action < 400) {
                link.client.flushAck();
                link.server.flushAck();
            } else if (action < 1600) {
                releaseSome(clientSide, random);
                releaseSome(serverSide, random);
            } else if (!link.deliverOne(random)) {
                link.client.flushAck();
                link.server.flushAck();
                releaseSome(clientSide, random);
                releaseSome(serverSide, random);
            }
            clientSide.check();
            serverSide.check();
            assertThat(link.client.unackedBytes()).isLessThanOrEqualTo(LIMITS.maxUnacked() + 4096);
            assertThat(link.server.unackedBytes()).isLessThanOrEqualTo(LIMITS.maxUnacked() + 4096);
        }
        if (!(clientSide.done() && serverSide.done())) {
            fail("transfer did not complete: client "
                    + clientSide.pumps.values().stream().filter(p -> !p.done()).count() + " streams open, server "
                    + serverSide.pumps.values().stream().filter(p -> !p.done()).count());
        }
        for (var e : clientSide.pumps.entrySet()) {
            Traffic.Pump mine = e.getValue();
            Traffic.Pump theirs = serverSide.pumps.get(e.getKey());
            assertThat(theirs.received).as("stream %d up", e.getKey()).isEqualTo(mine.toSend);
            assertThat(theirs.receivedHash()).as("stream %d up", e.getKey()).isEqualTo(mine.sentHash());
            assertThat(mine.received).as("stream %d down", e.getKey()).isEqualTo(theirs.toSend);
            assertThat(mine.receivedHash()).as("stream %d down", e.getKey()).isEqualTo(theirs.sentHash());
        }
        assertThat(link.client.streamCount()).isZero();
        assertThat(link.server.streamCount()).isZero();
        long bytes = clientSide.bytesSent() + serverSide.bytesSent();
        assertThat(link.client.stats().bytesSent() + link.server.stats().bytesSent())
                .isEqualTo(bytes);
        return new Outcome(
                bytes,
                drops,
                link.client.stats().framesResent() + link.server.stats().framesResent());
    }

    private static void releaseSome(Traffic.Side side, Random random) {
        for (Traffic.Pump p : side.pumps.values()) {
            if (p.pendingConsume > 0 && random.nextInt(4) == 0) {
                p.release(1 + random.nextInt(64 * 1024));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void everyByteArrivesExactlyOnceAcrossRandomDisconnects(long seed) throws Exception {
        Outcome o = run(seed, 12, 4, 1_000_000);
        System.out.printf("seed %d: %d bytes, %d drops, %d frames resent%n", seed, o.bytes(), o.drops(), o.resent());
        assertThat(o.bytes()).isGreaterThan(4_000_000);
        assertThat(o.drops()).isGreaterThan(10);
        assertThat(o.resent()).isPositive();
    }

    @ParameterizedTest
    @ValueSource(longs = {4, 5})
    void encryptedSessionsResendAcrossConnectionsWithoutReusingANonce(long seed) throws Exception {
        Outcome o = run(seed, 12, 4, 1_000_000, true);
        System.out.printf(
                "encrypted seed %d: %d bytes, %d drops, %d frames resent%n", seed, o.bytes(), o.drops(), o.resent());
        assertThat(o.drops()).isGreaterThan(10);
        // Resent frames went out again, each time on a new connection under that connection's keys; the Link checked
        // that no (leg key, counter) pair was ever sealed twice.
        assertThat(o.resent()).isPositive();
    }

    @Test
    void manySmallStreamsSurviveFrequentDisconnects() throws Exception {
        Outcome o = run(99, 48, 16, 40_000);
        assertThat(o.drops()).isGreaterThan(0);
    }
}
