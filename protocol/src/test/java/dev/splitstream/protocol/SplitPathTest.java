package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Split path: the client's frames travel on an upstream-only leg and the server's on a downstream-only leg, each of
 * which drops and rejoins on its own (JOIN_UPSTREAM re-attaches the client's sink with what the server received;
 * JOIN_DOWNSTREAM re-attaches the server's sink with what the client received). Every byte still arrives exactly once.
 */
class SplitPathTest {
    private static final Limits LIMITS =
            new Limits(16 * 1024, 255, 1024, 128, 64, 64 * 1024, 512 * 1024, 1024 * 1024, Duration.ofMinutes(2));

    private final FrameCodec codec = new FrameCodec(LIMITS);
    private final ArrayDeque<ByteBuffer> up = new ArrayDeque<>();
    private final ArrayDeque<ByteBuffer> down = new ArrayDeque<>();
    private int upGeneration;
    private int downGeneration;
    private FrameSink upSink;
    private FrameSink downSink;

    private void joinUpstream(Session client, Session server) throws ProtocolException {
        int g = ++upGeneration;
        upSink = f -> {
            if (g == upGeneration) {
                up.add(codec.encode(f));
            }
        };
        client.attach(upSink, server.lastReceivedSeq());
    }

    private void joinDownstream(Session client, Session server) throws ProtocolException {
        int g = ++downGeneration;
        downSink = f -> {
            if (g == downGeneration) {
                down.add(codec.encode(f));
            }
        };
        server.attach(downSink, client.lastReceivedSeq());
    }

    @Test
    void eachLegDropsAndRejoinsOnItsOwnWithoutLosingAByte() throws Exception {
        Random random = new Random(7);
        Traffic.Side clientSide = new Traffic.Side("client", 11, 600_000);
        Traffic.Side serverSide = new Traffic.Side("server", 12, 600_000);
        Link link = new Link(LIMITS, LIMITS, clientSide, serverSide, System::nanoTime);
        Session client = link.client;
        Session server = link.server;
        joinUpstream(client, server);
        joinDownstream(client, server);
        for (int i = 0; i < 8; i++) {
            clientSide.open(client, random.nextInt(600_000));
        }
        serverSide.open(server, 400_000);
        boolean upOn = true;
        boolean downOn = true;
        int drops = 0;
        for (int step = 0; step < 10_000_000 && !(clientSide.done() && serverSide.done()); step++) {
            int action = random.nextInt(1000);
            if (action < 10 && upOn) {
                upGeneration++;
                client.detach(upSink);
                up.clear();
                upOn = false;
                drops++;
            } else if (action < 20 && downOn) {
                downGeneration++;
                server.detach(downSink);
                down.clear();
                downOn = false;
                drops++;
            } else if (action < 70 && !upOn) {
                joinUpstream(client, server);
                upOn = true;
            } else if (action < 120 && !downOn) {
                joinDownstream(client, server);
                downOn = true;
            } else if (action < 160) {
                client.flushAck();
                server.flushAck();
            } else {
                boolean fromClient = up.isEmpty() ? false : down.isEmpty() || random.nextBoolean();
                ByteBuffer b = fromClient ? up.poll() : down.poll();
                if (b != null) {
                    (fromClient ? server : client).receive(codec.decodeMessage(b));
                }
            }
            clientSide.check();
            serverSide.check();
        }
        assertThat(clientSide.done() && serverSide.done())
                .as("transfer completes")
                .isTrue();
        assertThat(drops).isGreaterThan(20);
        for (var e : clientSide.pumps.entrySet()) {
            Traffic.Pump mine = e.getValue();
            Traffic.Pump theirs = serverSide.pumps.get(e.getKey());
            assertThat(theirs.receivedHash()).isEqualTo(mine.sentHash());
            assertThat(mine.receivedHash()).isEqualTo(theirs.sentHash());
        }
    }
}
