package dev.splitstream.protocol;

/**
 * Decides, per session and direction, whether DATA payloads go out deflated or plain, by what the peer acknowledged:
 * deflate pays where the path is slower than the compressor (a WAN, a CDN) and costs where the path is faster (on a
 * LAN or loopback deflate at level 1 moves text at 130-150 MiB/s against 700 plain). Neither the codec's encoding rate
 * nor a transport's write queue tells which case this is: kernel socket buffers and stream windows hide the path (two
 * governors judged by those were tried and dropped, see ARCHITECTURE). Payload bytes acknowledged per second do not.
 *
 * <p>Measured in windows of at least {@link #WINDOW_NANOS} (and two smoothed RTTs), each starting at the first
 * acknowledgement that covers a frame sent in the current mode, so frames still in flight from the previous mode do not
 * count. A window is <em>bulk</em> when its rate is at least {@link #MIN_BULK_BYTES_PER_SECOND}; only bulk windows
 * are compared (a slow or interactive session keeps compressing, as before this class). Deflated is the default: after
 * {@link #FIRST_PLAIN_PROBE} bulk windows in a row in which deflate shrank at least half the payload (the sink's codec
 * counts it) it tries plain for one window and keeps it when that moved at least
 * {@link #PLAIN_WINS} times as much; plain tries deflated again after a while and goes back to it when that moved at
 * least {@link #DEFLATE_HOLDS} times as much (ties favour deflate, which spends fewer bytes on the wire). A probe that
 * loses waits twice as long before the next (up to {@link #MAX_PROBE_WINDOWS} bulk windows); a probe that ends in a
 * window that is not bulk (the transfer stopped) decides nothing.
 *
 * <p>Confined to the session's thread, like the session, except {@link #prefersPlain}, which a gauge reads.
 */
final class CompressionGovernor {
    /** Shortest measurement window. */
    static final long WINDOW_NANOS = 250_000_000L;
    /** A window below this payload rate is not bulk: too slow for deflate to be the bottleneck. */
    static final long MIN_BULK_BYTES_PER_SECOND = 8L * 1024 * 1024;
    /** Bulk windows deflated before the first plain probe. */
    static final int FIRST_PLAIN_PROBE = 2;
    /** Bulk windows plain before the first deflate probe. */
    static final int FIRST_DEFLATE_PROBE = 8;
    /** Longest wait between probes, in bulk windows. */
    static final int MAX_PROBE_WINDOWS = 128;
    /** Plain is kept when it moves this many times the deflated rate. */
    static final double PLAIN_WINS = 1.25;
    /** Deflate is kept when it moves this many times the plain rate. */
    static final double DEFLATE_HOLDS = 0.9;

    private enum Mode {
        DEFLATE,
        PLAIN,
        PROBING_PLAIN,
        PROBING_DEFLATE
    }

    private final boolean enabled;
    private Mode mode = Mode.DEFLATE;
    /**
     * Plain is the steady mode (PLAIN, or PROBING_DEFLATE): set where the mode switches, read by {@link #prefersPlain}
     * from other threads; {@link #mode}, read per DATA frame, stays a plain field.
     */
    private volatile boolean plainChosen;
    /** Frames numbered from here on were sent in the current mode. */
    private long modeStartSeq = 1;
    /** When the current window began (the first ACK covering {@link #modeStartSeq}), or -1 before it. */
    private long windowStart = -1;

    private long windowBytes;
    /** The sink's count of deflated payload bytes when the window began. */
    private long deflatedAtStart;
    /** Bulk rate of the steady (not probing) mode: its windows' rates, each averaged with those before at half weight. */
    private double steadyRate;
    /** Bulk windows in the current steady mode since the last probe. */
    private int bulkWindows;

    private int plainProbeAfter = FIRST_PLAIN_PROBE;
    private int deflateProbeAfter = FIRST_DEFLATE_PROBE;
    private long switches;

    /** A governor for a session whose legs agreed to compress ({@code enabled}); otherwise it never says plain. */
    CompressionGovernor(boolean enabled) {
        this.enabled = enabled;
    }

    /** True when DATA sent now should go out plain, without a deflate attempt. */
    boolean plain() {
        return mode == Mode.PLAIN || mode == Mode.PROBING_PLAIN;
    }

    /**
     * The governor's choice, its probes aside: true while plain is the steady mode (also while it tries deflate again),
     * false while deflate is (also while it tries plain). Any thread: the nodes' gauges read it.
     */
    boolean prefersPlain() {
        return plainChosen;
    }

    /** Times the governor switched between deflated and plain (probes included). */
    long switches() {
        return switches;
    }

    /** The peer acknowledged the DATA frame {@code seq} with {@code payloadBytes}; call before {@link #acknowledged}. */
    void acknowledgedData(long seq, int payloadBytes) {
        if (windowStart >= 0 && seq >= modeStartSeq) {
            windowBytes += payloadBytes;
        }
    }

    /**
     * The peer acknowledged frames up to {@code ackedSeq}; {@code nextSeq} is the number the next frame gets,
     * {@code srttNanos} the smoothed RTT or -1, {@code deflatedSoFar} the sink's {@link
     * FrameSink#deflatedPayloadBytes()}.
     */
    void acknowledged(long ackedSeq, long nextSeq, long now, long srttNanos, long deflatedSoFar) {
        if (!enabled || ackedSeq < modeStartSeq) {
            return;
        }
        if (windowStart < 0) {
            windowStart = now; // the frames this ACK covers were sent before the window began
            windowBytes = 0;
            deflatedAtStart = deflatedSoFar;
            return;
        }
        long elapsed = now - windowStart;
        if (elapsed < Math.max(WINDOW_NANOS, 2 * srttNanos)) {
            return;
        }
        double rate = windowBytes * 1e9 / elapsed;
        boolean bulk = rate >= MIN_BULK_BYTES_PER_SECOND;
        // Deflate did something only if it shrank at least half of what was sent; on incompressible data (which
        // CompressionVerdicts already sends plain) a plain probe would tie every time and back off for nothing.
        boolean deflating = deflatedSoFar - deflatedAtStart >= windowBytes / 2;
        windowStart = now;
        windowBytes = 0;
        deflatedAtStart = deflatedSoFar;
        switch (mode) {
            case DEFLATE -> steady(bulk && deflating, rate, plainProbeAfter, Mode.PROBING_PLAIN, nextSeq);
            case PLAIN -> steady(bulk, rate, deflateProbeAfter, Mode.PROBING_DEFLATE, nextSeq);
            case PROBING_PLAIN -> {
                if (!bulk) {
                    switchTo(Mode.DEFLATE, nextSeq);
                } else if (rate >= PLAIN_WINS * steadyRate) {
                    deflateProbeAfter = FIRST_DEFLATE_PROBE;
                    steadyRate = rate;
                    switchTo(Mode.PLAIN, nextSeq);
                } else {
                    plainProbeAfter = Math.min(plainProbeAfter * 2, MAX_PROBE_WINDOWS);
                    switchTo(Mode.DEFLATE, nextSeq);
                }
            }
            case PROBING_DEFLATE -> {
                if (!bulk) {
                    switchTo(Mode.PLAIN, nextSeq);
                } else if (rate >= DEFLATE_HOLDS * steadyRate) {
                    plainProbeAfter = FIRST_PLAIN_PROBE;
                    steadyRate = rate;
                    switchTo(Mode.DEFLATE, nextSeq);
                } else {
                    deflateProbeAfter = Math.min(deflateProbeAfter * 2, MAX_PROBE_WINDOWS);
                    switchTo(Mode.PLAIN, nextSeq);
                }
            }
        }
    }

    private void steady(boolean bulk, double rate, int probeAfter, Mode probe, long nextSeq) {
        if (!bulk) {
            bulkWindows = 0;
            return;
        }
        steadyRate = steadyRate == 0 ? rate : (steadyRate + rate) / 2; // one slow window (a GC pause) weighs half
        if (++bulkWindows >= probeAfter) {
            switchTo(probe, nextSeq);
        }
    }

    private void switchTo(Mode next, long nextSeq) {
        if (plain() != (next == Mode.PLAIN || next == Mode.PROBING_PLAIN)) {
            switches++;
        }
        mode = next;
        boolean chosen = next == Mode.PLAIN || next == Mode.PROBING_DEFLATE;
        if (chosen != plainChosen) {
            plainChosen = chosen;
        }
        modeStartSeq = nextSeq;
        windowStart = -1;
        bulkWindows = 0;
    }

    /** A new connection was attached: what is in flight now is resent, so measure afresh. */
    void restart(long nextSeq) {
        switchTo(
                switch (mode) {
                    case PROBING_PLAIN -> Mode.DEFLATE;
                    case PROBING_DEFLATE -> Mode.PLAIN;
                    default -> mode;
                },
                nextSeq);
    }
}
