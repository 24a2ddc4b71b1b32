package dev.splitstream.exit.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RequestLogTest {
    private static RequestLog.Entry entry(String agent, int status, String path) {
        return new RequestLog.Entry(Instant.now(), agent, "web", RequestLog.Via.TOKEN, "GET", path, status, 3, 10, 20);
    }

    @Test
    void keepsOnlyTheNewestUpToItsCapacity() {
        RequestLog log = new RequestLog(3);
        for (int i = 0; i < 10; i++) {
            log.add(entry("a", 200, "/" + i));
        }
        assertThat(log.size()).isEqualTo(3);
        assertThat(log.newestFirst(Optional.empty(), Optional.empty(), 100))
                .extracting(RequestLog.Entry::path)
                .containsExactly("/9", "/8", "/7");
        assertThat(log.newestFirst(Optional.empty(), Optional.empty(), 2)).hasSize(2);
        assertThatThrownBy(() -> new RequestLog(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void filtersByAgentAndStatusClass() {
        RequestLog log = new RequestLog(100);
        log.add(entry("a", 200, "/ok"));
        log.add(entry("a", 404, "/missing"));
        log.add(entry("b", 502, "/broken"));
        log.add(entry("b", 204, "/empty"));
        log.add(entry("a", 499, "/gone"));

        assertThat(log.newestFirst(Optional.of("a"), Optional.empty(), 100))
                .extracting(RequestLog.Entry::path)
                .containsExactly("/gone", "/missing", "/ok");
        assertThat(log.newestFirst(Optional.empty(), Optional.of("2xx"), 100))
                .extracting(RequestLog.Entry::path)
                .containsExactly("/empty", "/ok");
        assertThat(log.newestFirst(Optional.of("a"), Optional.of("4xx"), 100))
                .extracting(RequestLog.Entry::path)
                .containsExactly("/gone", "/missing");
        assertThat(log.newestFirst(Optional.of("b"), Optional.of("5xx"), 100))
                .extracting(RequestLog.Entry::status)
                .containsExactly(502);
        assertThat(log.newestFirst(Optional.of("nobody"), Optional.empty(), 100))
                .isEmpty();
    }

    @Test
    void statusFiltersAreClassesOrNothing() {
        assertThat(RequestLog.parseStatusClass("2xx")).contains("2xx");
        assertThat(RequestLog.parseStatusClass("5XX")).contains("5xx");
        assertThat(RequestLog.parseStatusClass("4")).contains("4xx");
        assertThat(RequestLog.parseStatusClass(" 3xx ")).contains("3xx");
        for (String bad : new String[] {"200", "6xx", "0xx", "xx", "", "2xx; drop", "two"}) {
            assertThat(RequestLog.parseStatusClass(bad)).as(bad).isEmpty();
        }
        assertThat(RequestLog.parseStatusClass(null)).isEmpty();
    }

    @Test
    void pathsLoseTheirQueryAndAreCapped() {
        assertThat(RequestLog.loggablePath("/a/b?token=secret&x=1")).isEqualTo("/a/b");
        assertThat(RequestLog.loggablePath("/a#frag")).isEqualTo("/a");
        assertThat(RequestLog.loggablePath("?only=query")).isEqualTo("/");
        assertThat(RequestLog.loggablePath(null)).isEqualTo("/");
        String longPath = "/" + "x".repeat(5000);
        assertThat(RequestLog.loggablePath(longPath))
                .hasSize(RequestLog.MAX_PATH + 1)
                .endsWith("…");
    }

    @Test
    void concurrentWritersNeverGrowItPastItsCapacity() throws Exception {
        RequestLog log = new RequestLog(50);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            for (int t = 0; t < 4; t++) {
                String agent = "agent-" + t;
                pool.submit(() -> {
                    for (int i = 0; i < 5_000; i++) {
                        log.add(entry(agent, 200 + (i % 4) * 100, "/" + i));
                        if (i % 100 == 0) {
                            assertThat(log.newestFirst(Optional.empty(), Optional.empty(), 1000)
                                            .size())
                                    .isLessThanOrEqualTo(50);
                        }
                    }
                });
            }
        } finally {
            pool.shutdown();
            assertThat(pool.awaitTermination(60, TimeUnit.SECONDS)).isTrue();
        }
        List<RequestLog.Entry> all = log.newestFirst(Optional.empty(), Optional.empty(), 1000);
        assertThat(all).hasSize(50);
    }
}
