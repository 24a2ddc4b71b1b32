package dev.splitstream.entry.status;

import dev.splitstream.entry.session.SessionManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jline.utils.AttributedString;
import org.jline.utils.AttributedStringBuilder;
import org.jline.utils.AttributedStyle;

/** Renders one frame of the status screen from a {@link Snapshot}: plain lines with styles, cut to the screen. */
final class StatusView {
    private static final int LABEL = 11;

    /** Everything the screen shows at one moment. */
    record Snapshot(
            String server,
            SessionManager.Status status,
            List<String> listeners,
            List<String> exposed,
            long connections,
            int openStreams,
            long bytesUp,
            long bytesDown,
            double upPerSecond,
            double downPerSecond,
            long reconnects,
            long rttNanos,
            Duration uptime,
            long nowMillis,
            List<String> log,
            long requestCount,
            List<String> requests) {}

    /** Most request lines shown (the newest); the log panel gets the rest of the screen. */
    static final int REQUEST_LINES = 8;

    private StatusView() {}

    static List<AttributedString> render(Snapshot s, int rows, int columns) {
        List<AttributedString> lines = new ArrayList<>();
        lines.add(new AttributedStringBuilder()
                .style(AttributedStyle.BOLD)
                .append("Splitstream entry node")
                .style(AttributedStyle.DEFAULT)
                .append("   up " + clock(s.uptime()) + "   Ctrl-C stops")
                .toAttributedString());
        lines.add(AttributedString.EMPTY);
        lines.add(row("Server", plain(s.server())));
        SessionManager.Status st = s.status();
        String why = st.reason() == null ? "" : "  (" + st.reason() + ")";
        lines.add(row("Transport", plain((st.transport() == null ? "-" : st.transport()) + why)));
        lines.add(row("Session", session(s, st)));
        if (st.lastProblem() != null && st.state() != SessionManager.State.CONNECTED) {
            lines.add(
                    row("Problem", styled(st.lastProblem(), AttributedStyle.DEFAULT.foreground(AttributedStyle.RED))));
        }
        List<String> listeners = s.listeners().isEmpty() ? List.of("none") : s.listeners();
        for (int i = 0; i < listeners.size(); i++) {
            lines.add(row(i == 0 ? "Listeners" : "", plain(listeners.get(i))));
        }
        List<String> exposed = s.exposed().isEmpty() ? List.of("none") : s.exposed();
        for (int i = 0; i < exposed.size(); i++) {
            lines.add(row(i == 0 ? "Exposed" : "", plain(exposed.get(i))));
        }
        lines.add(row(
                "Traffic",
                plain("connections " + s.connections() + " (" + s.openStreams() + " open)   up " + bytes(s.bytesUp())
                        + " (" + bytes((long) s.upPerSecond()) + "/s)   down " + bytes(s.bytesDown()) + " ("
                        + bytes((long) s.downPerSecond()) + "/s)   reconnects " + s.reconnects())));
        if (s.requestCount() > 0) {
            lines.add(AttributedString.EMPTY);
            lines.add(new AttributedStringBuilder()
                    .style(AttributedStyle.BOLD)
                    .append("Requests")
                    .style(AttributedStyle.DEFAULT)
                    .append("   " + s.requestCount() + " routed to exposed HTTP services")
                    .toAttributedString());
            List<String> requests = s.requests();
            for (String line : requests.subList(Math.max(0, requests.size() - REQUEST_LINES), requests.size())) {
                lines.add(plain(line));
            }
        }
        lines.add(AttributedString.EMPTY);
        lines.add(new AttributedStringBuilder()
                .style(AttributedStyle.BOLD)
                .append("Log")
                .toAttributedString());
        int room = Math.max(0, rows - lines.size());
        List<String> log = s.log();
        for (String line : log.subList(Math.max(0, log.size() - room), log.size())) {
            lines.add(plain(line));
        }
        List<AttributedString> cut = new ArrayList<>();
        for (AttributedString line : lines.subList(0, Math.min(lines.size(), rows))) {
            cut.add(line.columnLength() > columns ? line.columnSubSequence(0, columns) : line);
        }
        return cut;
    }

    private static AttributedString session(Snapshot s, SessionManager.Status st) {
        AttributedStringBuilder b = new AttributedStringBuilder();
        switch (st.state()) {
            case CONNECTED ->
                b.style(AttributedStyle.BOLD.foreground(AttributedStyle.GREEN)).append("connected");
            case RESUMING ->
                b.style(AttributedStyle.BOLD.foreground(AttributedStyle.YELLOW)).append("resuming");
            case BACKOFF ->
                b.style(AttributedStyle.BOLD.foreground(AttributedStyle.RED)).append("backoff");
            case CONNECTING ->
                b.style(AttributedStyle.BOLD.foreground(AttributedStyle.YELLOW)).append("connecting");
            case STOPPED -> b.style(AttributedStyle.BOLD).append("stopped");
        }
        b.style(AttributedStyle.DEFAULT);
        if (st.sessionId() != null) {
            b.append("   id " + st.sessionId());
        }
        if (st.state() == SessionManager.State.CONNECTED && s.rttNanos() >= 0) {
            b.append(String.format(Locale.ROOT, "   rtt %.1f ms", s.rttNanos() / 1e6));
        }
        if (st.state() != SessionManager.State.CONNECTED && st.nextAttemptAtMillis() > 0) {
            long in = Math.max(0, st.nextAttemptAtMillis() - s.nowMillis());
            b.append(String.format(
                    Locale.ROOT, "   next attempt in %.1f s (failed attempts %d)", in / 1000.0, st.failedAttempts()));
        }
        return b.toAttributedString();
    }

    private static AttributedString row(String label, AttributedString value) {
        return new AttributedStringBuilder()
                .style(AttributedStyle.BOLD)
                .append(String.format("%-" + LABEL + "s", label))
                .style(AttributedStyle.DEFAULT)
                .append(value)
                .toAttributedString();
    }

    private static AttributedString plain(String text) {
        return new AttributedString(text);
    }

    private static AttributedString styled(String text, AttributedStyle style) {
        return new AttributedString(text, style);
    }

    static String clock(Duration d) {
        long s = Math.max(0, d.toSeconds());
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }

    /** 1023 B, 1.5 KiB, 12.0 MiB, 3.2 GiB. */
    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
