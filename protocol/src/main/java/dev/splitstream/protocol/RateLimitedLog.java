package dev.splitstream.protocol;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Log lines a peer can provoke (refused handshakes, refused streams, closed connections), rate limited per reason: the
 * first {@code burst} lines of a reason in each interval are written, the rest are counted and reported as one summary
 * line ({@code "… 1234 more 'AUTH_FAILED' lines suppressed in the last 10s"}) when the interval is over, at the next line
 * of that reason or at {@link #flush}. A flood therefore costs a few lines per interval, however fast it comes. Metrics
 * stay the exact count; this only spares the log. Thread-safe.
 *
 * <p>Not part of the wire protocol; it lives here because both nodes need it and this is the module they share.
 */
public final class RateLimitedLog {
    /** Most distinct reasons tracked; further ones share one window, so a peer cannot grow the map. */
    static final int MAX_REASONS = 256;

    static final String OTHER = "other";

    private final Consumer<String> sink;
    private final int burst;
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();

    private static final class Window {
        long start;
        int written;
        long suppressed;
    }

    /**
     * @param sink writes one line (e.g. {@code LOG::warn})
     * @param burst lines per reason per interval written as they come
     * @param interval length of a window
     * @param nanoClock monotonic clock ({@code System::nanoTime})
     */
    public RateLimitedLog(Consumer<String> sink, int burst, Duration interval, LongSupplier nanoClock) {
        if (burst < 1) {
            throw new IllegalArgumentException("burst must be positive");
        }
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("interval must be positive");
        }
        this.sink = Objects.requireNonNull(sink);
        this.burst = burst;
        this.intervalNanos = interval.toNanos();
        this.nanoClock = Objects.requireNonNull(nanoClock);
    }

    /** The usual setting: 10 lines per reason per 10 seconds. */
    public static RateLimitedLog of(Consumer<String> sink) {
        return new RateLimitedLog(sink, 10, Duration.ofSeconds(10), System::nanoTime);
    }

    /**
     * Writes {@code String.format(format, args)} unless {@code reason} already had its burst in this interval. The
     * line is only formatted when written. Returns true if it was written.
     */
    public boolean log(String reason, String format, Object... args) {
        String summary;
        boolean write;
        Window w = window(reason);
        synchronized (w) {
            summary = roll(reason, w, nanoClock.getAsLong());
            write = w.written < burst;
            if (write) {
                w.written++;
            } else {
                w.suppressed++;
            }
        }
        if (summary != null) {
            sink.accept(summary);
        }
        if (write) {
            sink.accept(args.length == 0 ? format : String.format(Locale.ROOT, format, args));
        }
        return write;
    }

    /** Writes the summary of every reason whose interval is over and which suppressed lines (call it periodically). */
    public void flush() {
        long now = nanoClock.getAsLong();
        List<String> lines = new ArrayList<>();
        windows.forEach((reason, w) -> {
            synchronized (w) {
                String s = roll(reason, w, now);
                if (s != null) {
                    lines.add(s);
                }
            }
        });
        lines.forEach(sink);
    }

    /** Lines counted but not written so far in the current interval of {@code reason} (for tests). */
    public long suppressed(String reason) {
        Window w = windows.get(reason);
        if (w == null) {
            return 0;
        }
        synchronized (w) {
            return w.suppressed;
        }
    }

    private Window window(String reason) {
        Window w = windows.get(reason);
        if (w != null) {
            return w;
        }
        String key = windows.size() >= MAX_REASONS ? OTHER : reason;
        return windows.computeIfAbsent(key, k -> {
            Window n = new Window();
            n.start = nanoClock.getAsLong();
            return n;
        });
    }

    /** Starts a new interval if the current one is over; returns its summary line when it suppressed anything. */
    private String roll(String reason, Window w, long now) {
        if (now - w.start < intervalNanos) {
            return null;
        }
        long seconds = Math.max(1, (now - w.start) / 1_000_000_000L);
        String summary = w.suppressed == 0
                ? null
                : "… " + w.suppressed + " more '" + reason + "' lines suppressed in the last " + seconds + "s";
        w.start = now;
        w.written = 0;
        w.suppressed = 0;
        return summary;
    }
}
