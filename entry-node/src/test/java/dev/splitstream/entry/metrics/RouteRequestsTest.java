package dev.splitstream.entry.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.Frame;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RouteRequestsTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final RouteRequests requests = new RouteRequests(registry);

    private static Frame.RouteLog report(String service, int status, long micros, long skipped) {
        return new Frame.RouteLog(service, Frame.RouteVia.TOKEN, "GET", "/", status, micros, 0, 0, skipped);
    }

    @Test
    void nothingReportedAddsNothingToTheSummary() {
        assertThat(requests.summary()).isEmpty();
        assertThat(requests.last(5)).isEmpty();
    }

    @Test
    void summaryCountsByStatusClassWithLatencyMinAvgMax() {
        requests.record(report("web", 200, 1_000, 0), "a");
        requests.record(report("web", 204, 2_000, 0), "b");
        requests.record(report("api", 404, 6_000, 3), "c");
        requests.record(report("api", 0, 3_000, 0), "d");
        assertThat(requests.summary())
                .isEqualTo(" requests=4 2xx=2 4xx=1 other=1 latency_min=1.0ms latency_avg=3.0ms latency_max=6.0ms"
                        + " unreported=3");
        assertThat(requests.count()).isEqualTo(4);
    }

    @Test
    void metersCountByServiceAndStatusClass() {
        requests.record(report("web", 200, 1_000, 0), "a");
        requests.record(report("web", 201, 3_000, 0), "b");
        requests.record(report("web", 503, 5_000, 2), "c");
        var ok = registry.get("splitstream.entry.route.requests")
                .tag("service", "web")
                .tag("status", "2xx")
                .timer();
        assertThat(ok.count()).isEqualTo(2);
        assertThat(ok.totalTime(TimeUnit.MICROSECONDS)).isEqualTo(4_000);
        assertThat(registry.get("splitstream.entry.route.requests")
                        .tag("status", "5xx")
                        .timer()
                        .count())
                .isEqualTo(1);
        assertThat(registry.get("splitstream.entry.route.unreported").counter().count())
                .isEqualTo(2);
    }

    @Test
    void aRegisteredServiceIsExportedAtZeroForEachClass() {
        requests.register("web");
        for (String c : new String[] {"2xx", "3xx", "4xx", "5xx"}) {
            assertThat(registry.get("splitstream.entry.route.requests")
                            .tag("service", "web")
                            .tag("status", c)
                            .timer()
                            .count())
                    .isZero();
        }
        assertThat(requests.summary()).isEmpty();
    }

    @Test
    void onlyTheNewestLinesAreKept() {
        for (int i = 0; i < RouteRequests.RECENT + 10; i++) {
            requests.record(report("web", 200, 1, 0), "line " + i);
        }
        assertThat(requests.last(RouteRequests.RECENT + 100)).hasSize(RouteRequests.RECENT);
        assertThat(requests.last(2)).hasSize(2).allSatisfy(l -> assertThat(l)
                .matches("\\d\\d:\\d\\d:\\d\\d line 5\\d"));
        assertThat(requests.last(1).get(0)).endsWith("line " + (RouteRequests.RECENT + 9));
    }
}
