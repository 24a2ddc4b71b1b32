package dev.splitstream.exit.metrics;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The newest refusals (handshakes refused, streams refused by the allow-list or a limit), bounded, for the dashboard.
 * Details are what the log already says at WARN/INFO: reasons, token ids, targets; never a secret. Thread-safe.
 */
public final class Refusals {
    /** One refusal: when, which kind ({@code handshake} or {@code stream}), the reason code and the detail. */
    public record Refusal(Instant at, String kind, String reason, String detail) {}

    private final int capacity;
    private final Deque<Refusal> recent = new ArrayDeque<>();

    public Refusals(int capacity) {
        this.capacity = capacity;
    }

    /** Longest detail kept; peers choose parts of it (token ids, host names). */
    static final int MAX_DETAIL = 300;

    public synchronized void add(Refusal r) {
        if (r.detail() != null && r.detail().length() > MAX_DETAIL) {
            r = new Refusal(r.at(), r.kind(), r.reason(), r.detail().substring(0, MAX_DETAIL) + "…");
        }
        if (recent.size() == capacity) {
            recent.removeFirst();
        }
        recent.addLast(r);
    }

    /** Newest first. */
    public synchronized List<Refusal> newestFirst() {
        List<Refusal> list = new ArrayList<>(recent);
        java.util.Collections.reverse(list);
        return list;
    }
}
