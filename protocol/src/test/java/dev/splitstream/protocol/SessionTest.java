package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class SessionTest {
    private final long[] now = {1_000_000_000L};
    private final Limits limits = Limits.defaults();
    private final Recorder clientEvents = new Recorder();
    private final Recorder serverEvents = new Recorder();

    private Link link(Limits l) throws ProtocolException {
        return new Link(l, l, clientEvents, serverEvents, () -> now[0]).connect();
    }

    private static ByteBuffer text(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static CloseCode codeOf(Throwable t) {
        return ((ProtocolException) t).code();
    }

    @Test
    void openAcceptAndDataFlowBothWays() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("db.internal", 5432, c);
        link.settle();
        assertThat(serverEvents.events).contains("opened 1 db.internal:5432");
        assertThat(c.events).contains("accepted 1");
        assertThat(s.write(text("ping"))).isTrue();
        serverEvents.opened.get(0).write(text("pong"));
        link.settle();
        assertThat(serverEvents.received.toString(StandardCharsets.UTF_8)).isEqualTo("ping");
        assertThat(c.received.toString(StandardCharsets.UTF_8)).isEqualTo("pong");
        assertThat(link.client.stats().bytesSent()).isEqualTo(4);
        assertThat(link.client.stats().bytesReceived()).isEqualTo(4);
        assertThat(link.server.stats().streamsOpened()).isEqualTo(1);
    }

    @Test
    void acknowledgedDataIsReportedToItsStreamOnce() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        for (int i = 0; i < 40; i++) {
            s.write(ByteBuffer.allocate(50_000));
        }
        link.settle();
        assertThat(serverEvents.received.size()).isEqualTo(2_000_000);
        link.server.flushAck();
        link.settle();
        assertThat(c.acknowledged).isEqualTo(2_000_000);
        assertThat(link.client.unackedBytes()).isZero();
    }

    @Test
    void clientOpensOddStreamIdsAndServerEvenOnes() throws Exception {
        Link link = link(limits);
        assertThat(link.client.open("a", 1, new Recorder()).id()).isEqualTo(1);
        assertThat(link.client.open("a", 1, new Recorder()).id()).isEqualTo(3);
        assertThat(link.server.open("b", 2, new Recorder()).id()).isEqualTo(2);
        assertThat(link.server.open("b", 2, new Recorder()).id()).isEqualTo(4);
        link.settle();
        assertThat(link.client.streamCount()).isEqualTo(4);
        assertThat(link.server.streamCount()).isEqualTo(4);
    }

    @Test
    void openCarriesTheOpenersWindowAndAcceptTheAcceptors() throws Exception {
        Limits clientLimits = limits.withWindows(100_000, 1_000_000);
        Limits serverLimits = limits.withWindows(200_000, 1_000_000);
        Link link = new Link(clientLimits, serverLimits, clientEvents, serverEvents, () -> now[0]).connect();
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        assertThat(link.sentByClient(Frame.Open.class).get(0).window()).isEqualTo(100_000);
        assertThat(link.sentByServer(Frame.Accept.class).get(0).window()).isEqualTo(200_000);
        assertThat(s.sendWindow()).isEqualTo(200_000);
        assertThat(serverEvents.opened.get(0).sendWindow()).isEqualTo(100_000);
    }

    @Test
    void writesBeforeAcceptWaitForItThenFlow() throws Exception {
        Link link = link(limits);
        serverEvents.autoAccept = false;
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        assertThat(s.write(text("early"))).isFalse();
        assertThat(s.isWritable()).isFalse();
        link.settle();
        assertThat(link.sentByClient(Frame.Data.class)).isEmpty();
        serverEvents.opened.get(0).accept(serverEvents);
        link.settle();
        assertThat(c.events).containsExactly("accepted 1");
        assertThat(c.writable).isEqualTo(1);
        assertThat(serverEvents.received.toString(StandardCharsets.UTF_8)).isEqualTo("early");
    }

    @Test
    void bigWritesAreSplitIntoSlicesOfAtMostMaxPayloadWithoutCopying() throws Exception {
        Limits l = limits.withMaxPayload(16 * 1024);
        Link link = link(l);
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        byte[] big = Frames.bytes(100_000, 3);
        List<ByteBuffer> handed = new java.util.ArrayList<>();
        // a sink that keeps the payload objects, to check they share the written array
        link.drop();
        link.client.attach(
                f -> {
                    if (f instanceof Frame.Data d) {
                        handed.add(d.payload());
                    }
                },
                link.server.lastReceivedSeq());
        s.write(ByteBuffer.wrap(big));
        assertThat(handed).hasSize(7);
        int offset = 0;
        for (ByteBuffer p : handed) {
            assertThat(p.remaining()).isLessThanOrEqualTo(16 * 1024);
            assertThat(p.array()).isSameAs(big);
            assertThat(p.arrayOffset() + p.position()).isEqualTo(offset);
            offset += p.remaining();
        }
        assertThat(offset).isEqualTo(big.length);
    }

    @Test
    void senderNeverExceedsThePeersWindowAndResumesOnCredit() throws Exception {
        Link link = link(limits.withWindows(64 * 1024, 64 * 1024));
        serverEvents.autoConsume = false;
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        byte[] data = Frames.bytes(300_000, 9);
        assertThat(s.write(ByteBuffer.wrap(data))).isFalse();
        link.settle();
        assertThat(serverEvents.received.size()).isEqualTo(64 * 1024);
        assertThat(s.sendWindow()).isZero();
        assertThat(s.queuedBytes()).isEqualTo(300_000 - 64 * 1024);
        Stream peer = serverEvents.opened.get(0);
        while (serverEvents.received.size() < data.length) {
            int before = serverEvents.received.size();
            peer.consumed(before - (int) consumedSoFar(peer, before));
            link.settle();
            assertThat(serverEvents.received.size()).isGreaterThan(before);
        }
        assertThat(serverEvents.received.toByteArray()).isEqualTo(data);
        assertThat(c.writable).isEqualTo(1);
        assertThat(s.isWritable()).isTrue();
    }

    private long consumedTotal;

    private long consumedSoFar(Stream peer, int receivedNow) {
        long before = consumedTotal;
        consumedTotal = receivedNow;
        return before;
    }

    @Test
    void windowViolationIsAFlowControlProtocolErrorThatClosesTheSession() throws Exception {
        Link link = link(limits.withWindows(1024, 1024));
        Recorder c = new Recorder();
        link.client.open("h", 1, c);
        link.settle();
        long seq = link.client.lastSentSeq() + 1;
        Frame.Data tooMuch = new Frame.Data(1, seq, ByteBuffer.allocate(1025), false);
        assertThatThrownBy(() -> link.server.receive(tooMuch))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("FLOW_CONTROL");
        assertThat(link.server.isClosed()).isTrue();
        assertThat(serverEvents.resetCode).isEqualTo(ResetCode.FLOW_CONTROL);
        assertThat(serverEvents.closeCode).isEqualTo(CloseCode.PROTOCOL_ERROR);
        link.settle();
        assertThat(clientEvents.closeCode).isEqualTo(CloseCode.PROTOCOL_ERROR);
        assertThat(clientEvents.closeMessage).contains("FLOW_CONTROL");
        assertThat(c.resetCode).isEqualTo(ResetCode.SESSION_CLOSED);
    }

    @Test
    void duplicatesAreIgnoredAndGapsAreProtocolErrors() throws Exception {
        Link link = link(limits);
        link.client.open("h", 1, new Recorder());
        link.settle();
        Frame.Data d = new Frame.Data(1, 2, text("x"), false);
        link.server.receive(d);
        link.server.receive(new Frame.Data(1, 2, text("x"), false));
        link.server.receive(new Frame.Data(1, 1, text("y"), false));
        assertThat(serverEvents.received.toString(StandardCharsets.UTF_8)).isEqualTo("x");
        assertThat(link.server.stats().bytesReceived()).isEqualTo(1);
        assertThatThrownBy(() -> link.server.receive(new Frame.Data(1, 4, text("z"), false)))
                .hasMessageContaining("sequence gap: expected 3 but received 4");
        assertThat(link.server.isClosed()).isTrue();
    }

    @Test
    void peerReceivingADuplicateAcknowledgesAgainOnFlush() throws Exception {
        Link link = link(limits);
        link.client.open("h", 1, new Recorder());
        link.settle();
        int acks = link.sentByServer(Frame.Ack.class).size();
        link.server.receive(new Frame.Open(1, 1, "h", 1, 10));
        link.server.flushAck();
        assertThat(link.sentByServer(Frame.Ack.class)).hasSize(acks + 1);
    }

    @Test
    void finHalfClosesEachDirectionAndBothFinsCloseTheStream() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        s.write(text("request"));
        s.finish();
        link.settle();
        assertThat(serverEvents.fin).isTrue();
        List<Frame.Data> sent = link.sentByClient(Frame.Data.class);
        assertThat(sent.get(sent.size() - 1).fin()).isTrue();
        Stream peer = serverEvents.opened.get(0);
        assertThat(peer.write(text("response"))).isTrue();
        assertThat(link.server.streamCount()).isEqualTo(1);
        peer.finish();
        link.settle();
        assertThat(c.received.toString(StandardCharsets.UTF_8)).isEqualTo("response");
        assertThat(c.fin).isTrue();
        assertThat(link.client.streamCount()).isZero();
        assertThat(link.server.streamCount()).isZero();
        assertThat(s.isClosed()).isTrue();
        assertThatThrownBy(() -> s.write(text("late"))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void finRidesOnTheLastQueuedDataFrame() throws Exception {
        Link link = link(limits);
        serverEvents.autoAccept = false;
        Stream s = link.client.open("h", 1, new Recorder());
        s.write(text("queued before accept"));
        s.finish();
        link.settle();
        serverEvents.opened.get(0).accept(serverEvents);
        link.settle();
        List<Frame.Data> data = link.sentByClient(Frame.Data.class);
        assertThat(data).hasSize(1);
        assertThat(data.get(0).fin()).isTrue();
        assertThat(serverEvents.received.toString(StandardCharsets.UTF_8)).isEqualTo("queued before accept");
        assertThat(serverEvents.fin).isTrue();
    }

    @Test
    void finWithoutDataIsAnEmptyDataFrame() throws Exception {
        Link link = link(limits);
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        s.finish();
        s.finish();
        link.settle();
        List<Frame.Data> data = link.sentByClient(Frame.Data.class);
        assertThat(data).hasSize(1);
        assertThat(data.get(0).fin()).isTrue();
        assertThat(data.get(0).payload().remaining()).isZero();
    }

    @Test
    void resetCarriesCodeAndMessageAndDataCrossingItIsHarmless() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        Stream peer = serverEvents.opened.get(0);
        s.write(text("in flight"));
        peer.reset(ResetCode.NOT_ALLOWED, "target h:1 is not in the allow-list");
        peer.reset(ResetCode.INTERNAL, "twice");
        link.settle();
        assertThat(c.resetCode).isEqualTo(ResetCode.NOT_ALLOWED);
        assertThat(c.resetMessage).isEqualTo("target h:1 is not in the allow-list");
        assertThat(link.sentByServer(Frame.Reset.class)).hasSize(1);
        assertThat(serverEvents.received.size()).isZero();
        assertThat(serverEvents.resetCode).isNull(); // a local reset does not call the own handler
        assertThat(link.client.isClosed()).isFalse();
        assertThat(link.server.isClosed()).isFalse();
        assertThat(s.write(text("after"))).isFalse();
    }

    @Test
    void refusingAStreamBeforeAcceptingItResetsTheOpener() throws Exception {
        Link link = link(limits);
        serverEvents.autoAccept = false;
        Recorder c = new Recorder();
        link.client.open("db", 5432, c);
        link.settle();
        serverEvents.opened.get(0).reset(ResetCode.NOT_ALLOWED, "target db:5432 is not in the allow-list");
        link.settle();
        assertThat(c.events).containsExactly("reset 1 NOT_ALLOWED");
        assertThat(link.client.streamCount()).isZero();
    }

    @Test
    void acceptingAStreamThePeerAlreadyResetReportsTheReset() throws Exception {
        Link link = link(limits);
        serverEvents.autoAccept = false;
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        s.reset(ResetCode.CANCELLED, "client went away");
        link.settle();
        Recorder late = new Recorder();
        serverEvents.opened.get(0).accept(late);
        assertThat(late.resetCode).isEqualTo(ResetCode.CANCELLED);
        assertThat(link.sentByServer(Frame.Accept.class)).isEmpty();
    }

    @Test
    void closeResetsStreamsAndTellsListenerAndPeer() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        link.client.open("h", 1, c);
        link.settle();
        link.server.close(CloseCode.GOING_AWAY, "shutting down");
        assertThat(serverEvents.closeCode).isEqualTo(CloseCode.GOING_AWAY);
        assertThat(serverEvents.resetCode).isEqualTo(ResetCode.SESSION_CLOSED);
        link.settle();
        assertThat(clientEvents.closeCode).isEqualTo(CloseCode.GOING_AWAY);
        assertThat(clientEvents.closeMessage).isEqualTo("shutting down");
        assertThat(c.resetCode).isEqualTo(ResetCode.SESSION_CLOSED);
        assertThat(link.client.isClosed()).isTrue();
        assertThatThrownBy(() -> link.client.open("h", 1, new Recorder())).isInstanceOf(ProtocolException.class);
        link.client.close(CloseCode.NORMAL, "again");
        assertThat(clientEvents.events.stream().filter(e -> e.startsWith("closed")))
                .hasSize(1);
    }

    @Test
    void fullResendBufferStopsWritingUntilAcksFreeIt() throws Exception {
        Limits l = limits.withMaxPayload(16 * 1024).withWindows(1 << 20, 1 << 20);
        l = new Limits(l.maxPayload(), 255, 1024, 128, 16, l.initialWindow(), l.maxWindow(), 64 * 1024, l.clockSkew());
        Link link = link(l);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        byte[] data = Frames.bytes(200_000, 1);
        assertThat(s.write(ByteBuffer.wrap(data))).isFalse();
        assertThat(link.client.unackedBytes()).isLessThanOrEqualTo(64 * 1024);
        assertThat(s.isWritable()).isFalse();
        // nothing delivered yet: no acks, so nothing more goes out
        int sent = link.sentByClient(Frame.Data.class).size();
        link.client.flushAck();
        assertThat(link.sentByClient(Frame.Data.class)).hasSize(sent);
        link.settle();
        assertThat(serverEvents.received.toByteArray()).isEqualTo(data);
        assertThat(c.writable).isEqualTo(1);
        assertThat(link.client.unackedBytes()).isZero();
    }

    @Test
    void receiverAcknowledgesAfterSixtyFourFrames() throws Exception {
        Link link = link(limits);
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        int acks = link.sentByServer(Frame.Ack.class).size();
        for (int i = 0; i < 63; i++) {
            s.write(text("x"));
        }
        while (link.deliverToServer()) {}
        assertThat(link.sentByServer(Frame.Ack.class)).hasSize(acks);
        s.write(text("x"));
        link.deliverToServer();
        assertThat(link.sentByServer(Frame.Ack.class)).hasSize(acks + 1);
        link.deliverToClient();
        while (link.deliverToClient()) {}
        assertThat(link.client.unackedBytes()).isZero();
    }

    @Test
    void detachedSessionBuffersAndAttachResendsWhatThePeerMissed() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        s.write(text("lost in flight "));
        link.drop();
        s.write(text("written while detached"));
        assertThat(link.client.isAttached()).isFalse();
        link.connect();
        link.settle();
        assertThat(serverEvents.received.toString(StandardCharsets.UTF_8))
                .isEqualTo("lost in flight written while detached");
        assertThat(link.client.stats().framesResent()).isEqualTo(2);
    }

    @Test
    void framesWrittenFromAnAcknowledgementDuringAttachFollowTheResentOnes() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.settle();
        s.write(text("received "));
        link.deliverToServer(); // the server has it; its ACK never reaches the client
        s.write(text("lost in flight "));
        link.drop();
        // attach acknowledges "received " (the server's last sequence) and the handler writes at once, as a budget
        // waiter that returns credit does: that frame must not overtake the resend of "lost in flight "
        boolean[] once = {false};
        c.onAck = () -> {
            if (!once[0]) {
                once[0] = true;
                s.write(text("written on ack"));
            }
        };
        link.connect();
        link.settle();
        assertThat(link.server.isClosed())
                .as("no sequence gap closed the session")
                .isFalse();
        assertThat(serverEvents.received.toString(StandardCharsets.UTF_8))
                .isEqualTo("received lost in flight written on ack");
        assertThat(link.client.stats().framesResent()).isEqualTo(1);
    }

    @Test
    void attachRefusesSequencesNeverSentOrAlreadyDiscarded() throws Exception {
        Link link = link(limits);
        link.client.open("h", 1, new Recorder());
        link.settle();
        assertThatThrownBy(() -> link.client.attach(f -> {}, 99)).hasMessageContaining("sent only up to 1");
        link.server.open("x", 1, new Recorder());
        link.settle();
        link.client.flushAck();
        link.settle();
        assertThatThrownBy(() -> link.server.attach(f -> {}, 0)).hasMessageContaining("already acknowledged up to 2");
    }

    @Test
    void detachOfAnotherSinkIsIgnored() throws Exception {
        Link link = link(limits);
        link.client.detach(f -> {});
        assertThat(link.client.isAttached()).isTrue();
    }

    @Test
    void pingPongMeasuresSmoothedRoundTripTime() throws Exception {
        Link link = link(limits);
        // attach pinged automatically: answer it after 10 ms
        now[0] += 10_000_000;
        link.settle();
        assertThat(link.client.rttNanos()).isEqualTo(10_000_000);
        link.client.ping();
        now[0] += 18_000_000;
        link.settle();
        assertThat(link.client.rttNanos()).isEqualTo(11_000_000);
        assertThat(clientEvents.rtt).isEqualTo(11_000_000);
        now[0] += 5_000_000;
        assertThat(link.client.nanosSinceLastReceive()).isEqualTo(5_000_000);
    }

    @Test
    void reattachingKeepsTheOutstandingPingSoItsPongStillMeasuresRtt() throws Exception {
        Link link = link(limits); // attach pinged at t0
        now[0] += 5_000_000;
        link.connect(); // an HTTP transport re-attaches on every GET, before the pong of t0 came back
        link.settle();
        assertThat(link.client.rttNanos()).isEqualTo(5_000_000);
    }

    @Test
    void unsolicitedPongIsIgnored() throws Exception {
        Link link = link(limits);
        link.settle();
        long rtt = link.client.rttNanos();
        link.client.receive(new Frame.Pong(12345));
        assertThat(link.client.rttNanos()).isEqualTo(rtt);
    }

    @Test
    void streamsBeyondTheLimitAreRefusedLocallyAndRemotely() throws Exception {
        Link link = new Link(
                        limits.withMaxStreams(10), limits.withMaxStreams(2), clientEvents, serverEvents, () -> now[0])
                .connect();
        Recorder third = new Recorder();
        link.client.open("h", 1, new Recorder());
        link.client.open("h", 1, new Recorder());
        link.client.open("h", 1, third);
        link.settle();
        assertThat(third.resetCode).isEqualTo(ResetCode.TOO_MANY_STREAMS);
        assertThat(link.server.streamCount()).isEqualTo(2);
        assertThatThrownBy(() -> link.server.open("x", 1, new Recorder()))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.LIMIT_EXCEEDED));
    }

    @Test
    void windowDoublesWhenAWholeWindowIsConsumedWithinTwoRoundTrips() throws Exception {
        Link link = link(limits.withWindows(64 * 1024, 256 * 1024));
        now[0] += 50_000_000; // rtt 50 ms
        link.settle();
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        Stream peer = serverEvents.opened.get(0);
        assertThat(peer.receiveWindow()).isEqualTo(64 * 1024);
        for (int round = 0; round < 4; round++) {
            s.write(ByteBuffer.wrap(Frames.bytes(peer.receiveWindow(), round)));
            link.settle();
            now[0] += 10_000_000; // a window per 10 ms: the window limits throughput
        }
        assertThat(peer.receiveWindow()).isEqualTo(256 * 1024);
        assertThat(s.sendWindow()).isEqualTo(256 * 1024);
    }

    @Test
    void windowGrowsOnlyAsFarAsItsHandlerBacksIt() throws Exception {
        Link link = link(limits.withWindows(64 * 1024, 1024 * 1024));
        serverEvents.windowGrowthLeft = 96 * 1024;
        now[0] += 50_000_000; // rtt 50 ms
        link.settle();
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        Stream peer = serverEvents.opened.get(0);
        for (int round = 0; round < 6; round++) {
            s.write(ByteBuffer.wrap(Frames.bytes(peer.receiveWindow(), round)));
            link.settle();
            now[0] += 10_000_000; // a window per 10 ms: the window limits throughput
        }
        // 64 KiB, then +64 KiB, then the last 32 KiB the handler allows; never the 1 MiB maximum
        assertThat(peer.receiveWindow()).isEqualTo(160 * 1024);
        assertThat(s.sendWindow()).as("credit never beyond the window").isLessThanOrEqualTo(160 * 1024);
        assertThat(serverEvents.windowGrowthLeft).isZero();
    }

    @Test
    void windowGrowsWhenTheCreditLoopIsLongerThanAnIdlePing() throws Exception {
        Link link = link(limits.withWindows(64 * 1024, 256 * 1024));
        now[0] += 200_000; // idle ping: 0.2 ms
        link.settle();
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        Stream peer = serverEvents.opened.get(0);
        for (int round = 0; round < 4; round++) {
            s.write(ByteBuffer.wrap(Frames.bytes(peer.receiveWindow(), round)));
            link.settle();
            now[0] += 15_000_000; // a window per 15 ms: below the 20 ms floor of a credit loop
        }
        assertThat(peer.receiveWindow()).isEqualTo(256 * 1024);
    }

    @Test
    void windowStaysWhenTheReaderIsSlowerThanTheNetwork() throws Exception {
        Link link = link(limits.withWindows(64 * 1024, 256 * 1024));
        now[0] += 1_000_000; // rtt 1 ms
        link.settle();
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        Stream peer = serverEvents.opened.get(0);
        for (int round = 0; round < 4; round++) {
            now[0] += 50_000_000;
            s.write(ByteBuffer.wrap(Frames.bytes(64 * 1024, round)));
            link.settle();
        }
        assertThat(peer.receiveWindow()).isEqualTo(64 * 1024);
    }

    @Test
    void consumingMoreThanDeliveredIsAProgrammingError() throws Exception {
        Link link = link(limits);
        Stream s = link.client.open("h", 1, new Recorder());
        assertThatThrownBy(() -> s.consumed(1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void peerBreakingStreamRulesIsAProtocolError() throws Exception {
        Link link = link(limits);
        assertThatThrownBy(() -> link.server.receive(new Frame.Data(7, 1, text("x"), false)))
                .hasMessageContaining("never opened");
        Link l2 = link(limits);
        assertThatThrownBy(() -> l2.server.receive(new Frame.Open(2, 1, "h", 1, 10)))
                .hasMessageContaining("parity");
        Link l3 = link(limits);
        l3.server.receive(new Frame.Open(5, 1, "h", 1, 10));
        assertThatThrownBy(() -> l3.server.receive(new Frame.Open(3, 2, "h", 1, 10)))
                .hasMessageContaining("ids must increase");
        Link l4 = link(limits);
        assertThatThrownBy(() -> l4.server.receive(
                        new Frame.Hello(1, 1, "t", new byte[32], 0, Frame.Intent.NEW, new byte[0], 0, 0)))
                .hasMessageContaining("unexpected HELLO");
        Link l5 = link(limits);
        assertThatThrownBy(() -> l5.server.receive(new Frame.Ack(3))).hasMessageContaining("only 0 were sent");
        Link l6 = link(limits);
        serverEvents.autoAccept = false;
        l6.client.open("h", 1, new Recorder());
        l6.settle();
        assertThatThrownBy(() -> l6.server.receive(new Frame.Data(1, 2, text("x"), false)))
                .hasMessageContaining("before it was accepted");
    }

    @Test
    void resetCrossingTheAcceptIsHarmlessOnBothSides() throws Exception {
        Link link = link(limits);
        Recorder c = new Recorder();
        Stream s = link.client.open("h", 1, c);
        link.deliverToServer(); // the server accepts at once; its ACCEPT is now in flight
        s.reset(ResetCode.CANCELLED, "local client went away");
        link.settle();
        assertThat(serverEvents.resetCode).isEqualTo(ResetCode.CANCELLED);
        assertThat(c.events).isEmpty();
        assertThat(link.client.streamCount()).isZero();
        assertThat(link.server.streamCount()).isZero();
        assertThat(link.client.isClosed()).isFalse();
    }

    @Test
    void windowUpdateBeyondTwoGigabytesIsAProtocolError() throws Exception {
        Link link = link(limits);
        link.client.open("h", 1, new Recorder());
        link.settle();
        long seq = link.client.lastSentSeq() + 1;
        assertThatThrownBy(() -> link.server.receive(new Frame.WindowUpdate(1, seq, Integer.MAX_VALUE)))
                .hasMessageContaining("FLOW_CONTROL");
    }

    @Test
    void peerThatNeverAcknowledgesIsCutOffOnceControlFramesPileUp() throws Exception {
        Limits l = new Limits(16 * 1024, 255, 1024, 128, 16, 16 * 1024, 16 * 1024, 16 * 1024, limits.clockSkew());
        Link link = link(l);
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        Stream peer = serverEvents.opened.get(0);
        // the client keeps sending data but never acknowledges what the server sends (its window updates)
        link.drop();
        link.server.attach(f -> {}, link.client.lastReceivedSeq());
        assertThatThrownBy(() -> {
                    for (int i = 0; i < 100_000; i++) {
                        long next = link.server.lastReceivedSeq() + 1;
                        link.server.receive(new Frame.Data(1, next, ByteBuffer.allocate(4096), false));
                    }
                })
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.LIMIT_EXCEEDED))
                .hasMessageContaining("does not acknowledge");
        assertThat(peer.isClosed()).isTrue();
        assertThat(s.isClosed()).isFalse(); // the client never heard: its side was detached
    }

    @Test
    void attachToAClosedSessionIsRefused() throws Exception {
        Link link = link(limits);
        link.client.close(CloseCode.NORMAL, "done");
        assertThatThrownBy(() -> link.client.attach(f -> {}, 0))
                .satisfies(e -> assertThat(codeOf(e)).isEqualTo(CloseCode.UNKNOWN_SESSION));
    }

    @Test
    void framesAfterCloseAreIgnored() throws Exception {
        Link link = link(limits);
        link.server.close(CloseCode.NORMAL, "bye");
        link.server.receive(new Frame.Data(99, 99, text("x"), false));
        assertThat(link.server.isClosed()).isTrue();
    }

    @Test
    void identityIsExposedForLogsWithoutTheKey() throws Exception {
        Link link = link(limits);
        assertThat(link.client.idHex()).hasSize(32).isEqualTo(Hmac.hex(link.client.id()));
        assertThat(link.client.toString())
                .contains(link.client.idHex())
                .doesNotContain(Hmac.hex(link.client.sessionKey().bytes()));
    }
}
