package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FlowControlTest {
    private static final Limits LIMITS =
            new Limits(16 * 1024, 255, 1024, 128, 64, 64 * 1024, 1024 * 1024, 2 * 1024 * 1024, Duration.ofMinutes(2));

    @Test
    void stalledReaderStallsOnlyItsOwnStream() throws Exception {
        Traffic.Side clientSide = new Traffic.Side("client", 1, 0);
        Traffic.Side serverSide = new Traffic.Side("server", 2, 0);
        Link link = new Link(LIMITS, LIMITS, clientSide, serverSide, System::nanoTime);
        link.record = false;
        link.connect();
        serverSide.stallIds.add(1);
        Traffic.Pump stalled = clientSide.open(link.client, 5_000_000);
        Traffic.Pump healthy = clientSide.open(link.client, 5_000_000);
        assertThat(stalled.stream.id()).isEqualTo(1);
        for (int i = 0; i < 100_000 && !healthy.done(); i++) {
            link.settle();
            if (serverSide.pumps.get(healthy.stream.id()).finished) {
                break;
            }
        }
        Traffic.Pump healthyPeer = serverSide.pumps.get(healthy.stream.id());
        Traffic.Pump stalledPeer = serverSide.pumps.get(stalled.stream.id());
        assertThat(healthyPeer.received).isEqualTo(5_000_000);
        assertThat(healthyPeer.finReceived).isTrue();
        assertThat(healthyPeer.receivedHash()).isEqualTo(healthy.sentHash());
        // the stalled stream got exactly one window and its writer is paused, holding no more than one write
        assertThat(stalledPeer.received).isEqualTo(LIMITS.initialWindow());
        assertThat(stalled.paused).isTrue();
        assertThat(stalled.stream.sendWindow()).isZero();
        assertThat(stalled.stream.queuedBytes()).isLessThanOrEqualTo(40_000);
        assertThat(link.client.unackedBytes()).isZero();
    }

    @Test
    void aFullTransportStopsStreamsUntilItDrains() throws Exception {
        Traffic.Side clientSide = new Traffic.Side("client", 1, 0);
        Traffic.Side serverSide = new Traffic.Side("server", 2, 0);
        Link link = new Link(LIMITS, LIMITS, clientSide, serverSide, System::nanoTime);
        link.record = false;
        link.connect();
        Traffic.Pump a = clientSide.open(link.client, 700_000);
        Traffic.Pump b = clientSide.open(link.client, 700_000);
        link.client.outboundFull(link.clientSink());
        for (int i = 0; i < 1_000 && !(a.paused && b.paused); i++) {
            link.settle();
        }
        // no DATA frame made while the transport is full: each writer holds at most its one refused write
        assertThat(a.paused).isTrue();
        assertThat(b.paused).isTrue();
        assertThat(link.client.unackedBytes()).isLessThan(1_000);
        assertThat(a.stream.queuedBytes()).isLessThanOrEqualTo(40_000);
        assertThat(b.stream.queuedBytes()).isLessThanOrEqualTo(40_000);
        assertThat(link.client.isOutboundFull()).isTrue();
        // another sink's drain (a link that is not the session's outbound path) changes nothing
        link.client.outboundDrained(f -> {});
        assertThat(link.client.isOutboundFull()).isTrue();
        link.client.outboundDrained(link.clientSink());
        for (int i = 0; i < 100_000 && !(a.done() && b.done()); i++) {
            link.settle();
        }
        for (Traffic.Pump p : new Traffic.Pump[] {a, b}) {
            Traffic.Pump peer = serverSide.pumps.get(p.stream.id());
            assertThat(peer.received).isEqualTo(700_000);
            assertThat(peer.receivedHash()).isEqualTo(p.sentHash());
        }
    }

    @Test
    void windowIsNeverExceededWhateverTheReadersPace() throws Exception {
        for (long seed = 1; seed <= 3; seed++) {
            Random random = new Random(seed);
            Traffic.Side clientSide = new Traffic.Side("client", seed, 300_000);
            Traffic.Side serverSide = new Traffic.Side("server", ~seed, 300_000);
            clientSide.autoConsume = false;
            serverSide.autoConsume = false;
            long[] now = {0};
            Link link = new Link(LIMITS, LIMITS, clientSide, serverSide, () -> now[0]);
            link.record = false;
            link.connect();
            for (int i = 0; i < 8; i++) {
                clientSide.open(link.client, random.nextInt(300_000));
            }
            for (int i = 0; i < 3; i++) {
                serverSide.open(link.server, random.nextInt(300_000));
            }
            int steps = 0;
            while (!(clientSide.done() && serverSide.done())) {
                assertThat(++steps).as("transfer completes").isLessThan(5_000_000);
                now[0] += random.nextInt(2_000_000);
                int action = random.nextInt(100);
                if (action < 20) {
                    for (Traffic.Side side : new Traffic.Side[] {clientSide, serverSide}) {
                        for (Traffic.Pump p : side.pumps.values()) {
                            if (random.nextInt(3) == 0) {
                                p.release(random.nextInt(40_000));
                            }
                        }
                    }
                } else if (action < 25) {
                    link.client.flushAck();
                    link.server.flushAck();
                    link.client.ping();
                } else if (!link.deliverOne(random)) {
                    link.client.flushAck();
                    link.server.flushAck();
                }
                for (Traffic.Side side : new Traffic.Side[] {clientSide, serverSide}) {
                    side.check();
                    for (Traffic.Pump p : side.pumps.values()) {
                        // delivered but not yet consumed never exceeds the window this side granted
                        assertThat(p.pendingConsume).isLessThanOrEqualTo(p.stream.receiveWindow());
                        assertThat(p.stream.receiveWindow()).isLessThanOrEqualTo(LIMITS.maxWindow());
                        assertThat(p.stream.sendWindow()).isGreaterThanOrEqualTo(0);
                    }
                }
            }
        }
    }
}
