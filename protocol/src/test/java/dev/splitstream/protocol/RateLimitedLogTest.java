package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateLimitedLogTest {
    private final AtomicLong now = new AtomicLong();
    private final List<String> lines = new ArrayList<>();
    private final RateLimitedLog log = new RateLimitedLog(lines::add, 3, Duration.ofSeconds(10), now::get);

    @Test
    void floodOfOneReasonWritesTheBurstThenOneSummary() {
        for (int i = 0; i < 10_000; i++) {
            log.log("AUTH_FAILED", "refused %d", i);
        }
        assertThat(lines).containsExactly("refused 0", "refused 1", "refused 2");
        assertThat(log.suppressed("AUTH_FAILED")).isEqualTo(9_997);
        now.addAndGet(Duration.ofSeconds(11).toNanos());
        log.log("AUTH_FAILED", "refused again");
        assertThat(lines.subList(3, lines.size()))
                .containsExactly("… 9997 more 'AUTH_FAILED' lines suppressed in the last 11s", "refused again");
    }

    @Test
    void reasonsHaveTheirOwnBudget() {
        for (int i = 0; i < 5; i++) {
            log.log("STALE", "stale");
            log.log("REPLAY", "replay");
        }
        assertThat(lines).filteredOn("stale"::equals).hasSize(3);
        assertThat(lines).filteredOn("replay"::equals).hasSize(3);
    }

    @Test
    void flushWritesSummariesOfEndedIntervalsOnly() {
        for (int i = 0; i < 5; i++) {
            log.log("X", "x");
        }
        log.flush();
        assertThat(lines).hasSize(3);
        now.addAndGet(Duration.ofSeconds(10).toNanos());
        log.flush();
        assertThat(lines).last().isEqualTo("… 2 more 'X' lines suppressed in the last 10s");
        log.flush();
        assertThat(lines).hasSize(4);
    }

    @Test
    void unboundedReasonsShareOneWindowPastTheCap() {
        for (int i = 0; i < RateLimitedLog.MAX_REASONS + 1000; i++) {
            log.log("reason-" + i, "line");
        }
        assertThat(lines).hasSize(RateLimitedLog.MAX_REASONS + 3);
    }

    @Test
    void nothingSuppressedMeansNoSummary() {
        log.log("X", "one");
        now.addAndGet(Duration.ofMinutes(1).toNanos());
        log.flush();
        log.log("X", "two");
        assertThat(lines).containsExactly("one", "two");
    }
}
