package dev.splitstream.exit.route;

import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

/**
 * The most recent HTTP route requests, newest last, for the dashboard: a bounded ring ({@link #CAPACITY} entries, the
 * oldest dropped). Entries carry the path without its query string (queries often hold secrets) and never a route
 * token or a header value. Filled from the HTTP event loops when a request ends; the lock is held for an append or a
 * copy only.
 */
@ApplicationScoped
public class RequestLog {
    /** Most requests kept. */
    public static final int CAPACITY = 500;
    /** Longest path kept; longer ones are cut and end in an ellipsis. */
    static final int MAX_PATH = 200;

    /** How a request found its agent. */
    public enum Via {
        TOKEN,
        HOST,
        HUB;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public record Entry(
            Instant at,
            String agent,
            String service,
            Via via,
            String method,
            String path,
            int status,
            long latencyMillis,
            long bytesIn,
            long bytesOut) {

        /** {@code 2xx} .. {@code 5xx}, or {@code other} (499 counts as 4xx: the client went away). */
        public String statusClass() {
            return statusClass(status);
        }

        static String statusClass(int status) {
            return status >= 100 && status < 600 ? (status / 100) + "xx" : "other";
        }
    }

    private final int capacity;
    private final ArrayDeque<Entry> ring;

    public RequestLog() {
        this(CAPACITY);
    }

    RequestLog(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be at least 1");
        }
        this.capacity = capacity;
        this.ring = new ArrayDeque<>(capacity);
    }

    public void add(Entry e) {
        synchronized (ring) {
            if (ring.size() == capacity) {
                ring.pollFirst();
            }
            ring.addLast(e);
        }
    }

    public int size() {
        synchronized (ring) {
            return ring.size();
        }
    }

    /**
     * Newest first, at most {@code limit}; {@code agent} (exact name) and {@code statusClass} ({@code 2xx} .. {@code
     * 5xx}) filter when present.
     */
    public List<Entry> newestFirst(Optional<String> agent, Optional<String> statusClass, int limit) {
        List<Entry> out = new ArrayList<>();
        synchronized (ring) {
            Iterator<Entry> it = ring.descendingIterator();
            while (it.hasNext() && out.size() < limit) {
                Entry e = it.next();
                if (agent.isPresent() && !agent.get().equals(e.agent())) {
                    continue;
                }
                if (statusClass.isPresent() && !statusClass.get().equals(e.statusClass())) {
                    continue;
                }
                out.add(e);
            }
        }
        return out;
    }

    /**
     * A status class filter as given by a user: {@code 2xx}, {@code 2XX} or {@code 2} for 2xx .. 5xx (1xx too: an
     * upgraded connection logs its 101). Empty when the value is none of these.
     */
    public static Optional<String> parseStatusClass(String value) {
        if (value == null) {
            return Optional.empty();
        }
        String v = value.trim().toLowerCase(java.util.Locale.ROOT);
        if (v.matches("[1-5](xx)?")) {
            return Optional.of(v.charAt(0) + "xx");
        }
        return Optional.empty();
    }

    /** The path of a request URI as the log keeps it: no query string or fragment, at most {@link #MAX_PATH} chars. */
    static String loggablePath(String uri) {
        if (uri == null || uri.isEmpty()) {
            return "/";
        }
        int cut = uri.length();
        int q = uri.indexOf('?');
        if (q >= 0) {
            cut = q;
        }
        int f = uri.indexOf('#');
        if (f >= 0 && f < cut) {
            cut = f;
        }
        String path = uri.substring(0, cut);
        if (path.length() > MAX_PATH) {
            path = path.substring(0, MAX_PATH) + "…";
        }
        return path.isEmpty() ? "/" : path;
    }
}
