package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import org.junit.jupiter.api.Test;

/**
 * The governor against simulated paths: a sender that moves payload at one rate deflated and another plain (its CPU
 * or the path binds), frames acknowledged one RTT after they leave. Rates in MiB/s of payload.
 */
class CompressionGovernorTest {
    private static final long MIB = 1024 * 1024;
    private static final long TICK = 1_000_000L; // 1 ms

    /** Payload bytes sent plain and deflated, and the switches made, over a simulated transfer. */
    private record Outcome(long plainBytes, long deflatedBytes, long switches) {
        double plainShare() {
            return (double) plainBytes / (plainBytes + deflatedBytes);
        }

        double mibPerSecond(double seconds) {
            return (plainBytes + deflatedBytes) / seconds / MIB;
        }
    }

    private record InFlight(long seq, int bytes, long ackAt) {}

    /** Runs {@code seconds} of bulk transfer of text at {@code deflated} / {@code plain} MiB/s with this RTT. */
    private static Outcome simulate(double deflated, double plain, long rttNanos, double seconds) {
        return new Sender(new CompressionGovernor(true)).run(deflated, plain, rttNanos, seconds, true);
    }

    /** A sender on one governor; a run may follow another (data that stops compressing, then compresses again). */
    private static final class Sender {
        final CompressionGovernor governor;
        long nextSeq = 1;
        long now;
        /** The sink's count: payload bytes that went out deflated. */
        long deflatedSoFar;

        Sender(CompressionGovernor governor) {
            this.governor = governor;
        }

        Outcome run(double deflated, double plain, long rttNanos, double seconds, boolean compressible) {
            ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
            long plainBytes = 0;
            long deflatedBytes = 0;
            double credit = 0;
            long switchesBefore = governor.switches();
            long end = now + (long) (seconds * 1e9);
            for (; now < end; now += TICK) {
                boolean sendPlain = governor.plain();
                credit += (sendPlain ? plain : deflated) * MIB * TICK / 1e9;
                while (credit >= 16 * 1024) {
                    credit -= 16 * 1024;
                    inFlight.add(new InFlight(nextSeq++, 16 * 1024, now + rttNanos));
                    if (sendPlain) {
                        plainBytes += 16 * 1024;
                    } else {
                        deflatedBytes += 16 * 1024;
                        deflatedSoFar += compressible ? 16 * 1024 : 0;
                    }
                }
                long acked = -1;
                while (!inFlight.isEmpty() && inFlight.peekFirst().ackAt() <= now) {
                    InFlight f = inFlight.pollFirst();
                    governor.acknowledgedData(f.seq(), f.bytes());
                    acked = f.seq();
                }
                if (acked > 0) {
                    governor.acknowledged(acked, nextSeq, now, rttNanos, deflatedSoFar);
                }
            }
            return new Outcome(plainBytes, deflatedBytes, governor.switches() - switchesBefore);
        }
    }

    @Test
    void onAPathFasterThanDeflateMostBytesGoPlain() {
        // loopback: deflate level 1 moves text at ~140 MiB/s, plain frames at ~700
        Outcome o = simulate(140, 700, 200_000, 20);
        assertThat(o.plainShare()).as("share sent plain").isGreaterThan(0.9);
        assertThat(o.mibPerSecond(20)).as("MiB/s").isGreaterThan(0.85 * 700);
        // probes of deflate back off: 8, 16, 32, 64, 128 bulk windows apart
        assertThat(o.switches()).isLessThan(16);
    }

    @Test
    void onAPathSlowerThanDeflateBytesStayDeflated() {
        // 16 MiB/s on the wire, text deflated to a fifth: 80 MiB/s of payload deflated, 16 plain
        Outcome o = simulate(80, 16, 20_000_000, 20);
        assertThat(o.plainShare()).isLessThan(0.05);
        assertThat(o.mibPerSecond(20))
                .as("MiB/s: five plain probes in 20 s, backing off")
                .isGreaterThan(0.9 * 80);
    }

    @Test
    void aSenderSlowerThanBothKeepsDeflating() {
        // the application produces 20 MiB/s: both modes move the same, and the tie goes to deflate (fewer wire bytes)
        Outcome o = simulate(20, 20, 1_000_000, 20);
        assertThat(o.plainShare()).isLessThan(0.1);
    }

    @Test
    void aSlowSessionIsNeverProbed() {
        Outcome o = simulate(4, 400, 1_000_000, 10);
        assertThat(o.plainBytes()).isZero();
        assertThat(o.switches()).isZero();
    }

    @Test
    void onALongPathFramesStillInFlightFromTheOtherModeDoNotCount() {
        // 100 ms RTT, 60 MiB/s path, deflate binds at 140 MiB/s of payload: deflate wins. If the plain probe counted
        // the deflated frames acknowledged during its first RTT, it would see 140 and keep plain.
        Outcome o = simulate(140, 60, 100_000_000, 30);
        assertThat(o.plainShare()).isLessThan(0.1);
    }

    @Test
    void incompressibleDataIsNotProbedAndDoesNotDelayTheProbeOfTextAfterIt() {
        Sender sender = new Sender(new CompressionGovernor(true));
        // 20 s of random bytes: deflate shrinks nothing (CompressionVerdicts sends them plain anyway), no probe
        Outcome random = sender.run(700, 700, 200_000, 20, false);
        assertThat(random.switches()).isZero();
        assertThat(random.plainBytes()).isZero();
        // then text on a fast path: plain after the first probe, as on a fresh session
        Outcome text = sender.run(140, 700, 200_000, 1.5, true);
        assertThat(text.plainBytes()).as("MiB plain in 1.5 s").isGreaterThan(400 * MIB);
    }

    @Test
    void aGovernorOfASessionWithoutDeflateNeverSaysPlain() {
        CompressionGovernor governor = new CompressionGovernor(false);
        for (long t = 0, seq = 1; t < 10_000_000_000L; t += TICK, seq++) {
            governor.acknowledgedData(seq, 64 * 1024);
            governor.acknowledged(seq, seq + 1, t, 100_000, seq * 64 * 1024);
            assertThat(governor.plain()).isFalse();
        }
    }

    @Test
    void aProbeCutShortByTheEndOfTheTransferDecidesNothing() {
        CompressionGovernor governor = new CompressionGovernor(true);
        long seq = 1;
        long t = 0;
        // bulk at 100 MiB/s deflated: 1.6 MiB per 16 ms
        while (!governor.plain()) {
            t += 16_000_000L;
            governor.acknowledgedData(seq, (int) (1.6 * MIB));
            governor.acknowledged(seq, ++seq, t, 100_000, seq * 2 * MIB);
        }
        assertThat(governor.prefersPlain())
                .as("a plain probe is not yet plain's turn")
                .isFalse();
        long probeStart = seq;
        // the plain probe's first ACK starts its window; then the transfer stops and a lone ACK comes 10 s later
        t += 1_000_000L;
        governor.acknowledgedData(probeStart, 4096);
        governor.acknowledged(probeStart, ++seq, t, 100_000, seq * 2 * MIB);
        t += 10_000_000_000L;
        governor.acknowledgedData(seq - 1, 4096);
        governor.acknowledged(seq - 1, seq, t, 100_000, seq * 2 * MIB);
        assertThat(governor.plain()).as("back to deflate, the default").isFalse();
        assertThat(governor.prefersPlain()).isFalse();
        // and the next bulk transfer probes plain again after the first two windows, not after a backed-off wait
        int windows = 0;
        while (!governor.plain() && windows < 100) {
            t += 16_000_000L;
            governor.acknowledgedData(seq, (int) (1.6 * MIB));
            governor.acknowledged(seq, ++seq, t, 100_000, seq * 2 * MIB);
            windows++;
        }
        assertThat(windows * 16).as("ms of bulk before the next probe").isBetween(500, 900);
    }

    @Test
    void aSessionMarksItsDataPlainOnceThePeerAcknowledgesFasterPlain() throws Exception {
        long[] now = {1_000_000_000L};
        Recorder clientEvents = new Recorder();
        Recorder serverEvents = new Recorder() {
            @Override
            public void onData(Stream stream, ByteBuffer data) {
                stream.consumed(data.remaining()); // discard: megabytes per simulated second
            }
        };
        Limits limits = Limits.defaults().withWindows(16 * 1024 * 1024, 16 * 1024 * 1024); // writes leave at once
        Link link = new Link(limits, limits, clientEvents, serverEvents, () -> now[0], Capabilities.DEFLATE);
        FrameCodec deflating = link.codec.withDeflate(Deflate.defaults());
        link.connect(0, 0, deflating, link.codec.withDeflate(Deflate.defaults()));
        link.record = false;
        Stream s = link.client.open("h", 1, new Recorder());
        link.settle();
        byte[] text = "2026-12-02T05:19:20Z INFO GET /api/orders status=200 bytes=5120\n"
                .repeat(1024)
                .substring(0, 64 * 1024)
                .getBytes(StandardCharsets.US_ASCII);
        long compressedFrames = 0;
        long plainFrames = 0;
        boolean plainLast = false;
        for (int ms = 0; ms < 3000; ms++) {
            // a fast path: the CPU deflates one 64 KiB payload per ms (64 MiB/s) or sends eight plain (512 MiB/s)
            for (int i = 0; i < (plainLast ? 8 : 1); i++) {
                assertThat(s.write(ByteBuffer.wrap(text))).isTrue();
                ByteBuffer wire = link.toServer.peekLast();
                plainLast = (wire.get(wire.position() + 2) & FrameCodec.FLAG_COMPRESSED) == 0;
                if (plainLast) {
                    plainFrames++;
                } else {
                    compressedFrames++;
                }
            }
            link.settle();
            now[0] += TICK;
        }
        assertThat(plainFrames).as("payloads sent plain").isGreaterThan(8 * compressedFrames);
        assertThat(compressedFrames).as("payloads deflated first").isGreaterThan(400);
        assertThat(link.client.sendsDataPlain())
                .as("what the gauges read on the sending side")
                .isTrue();
        assertThat(link.server.sendsDataPlain())
                .as("the side that only acknowledged")
                .isFalse();
    }
}
