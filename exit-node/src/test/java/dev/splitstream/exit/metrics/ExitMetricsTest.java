package dev.splitstream.exit.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.BufferBudget;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class ExitMetricsTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ExitMetrics metrics = new ExitMetrics(registry, new BufferBudget(1 << 20, 16 * 1024));

    @Test
    void connectionLimitsAndEvictionsAreCountedAndKeptForTheDashboard() {
        metrics.connectionRefused("connections_per_source", "connection from 127.0.0.2 closed: it already holds 4");
        metrics.sessionEvicted("session ab token=t detached for 3s closed to make room");
        metrics.refusal("stream", "BUFFER_BUDGET", "token t session ab: the exit node's buffer budget is spent");
        assertThat(metrics.refusals().newestFirst())
                .extracting(r -> r.kind() + " " + r.reason())
                .containsExactly("stream BUFFER_BUDGET", "session evicted", "connection connections_per_source");
        assertThat(registry.get("splitstream.exit.connections.refused")
                        .tag("reason", "connections_per_source")
                        .counter()
                        .count())
                .isEqualTo(1);
        assertThat(registry.get("splitstream.exit.sessions.evicted").counter().count())
                .isEqualTo(1);
    }

    @Test
    void routeReportOutcomesExistFromTheStart() {
        for (String outcome : new String[] {"sent", "rate", "busy", "away", "not_agreed"}) {
            assertThat(registry.get("splitstream.exit.route.reports")
                            .tag("outcome", outcome)
                            .counter()
                            .count())
                    .isZero();
        }
        metrics.routeReport("busy");
        assertThat(registry.get("splitstream.exit.route.reports")
                        .tag("outcome", "busy")
                        .counter()
                        .count())
                .isEqualTo(1);
    }
}
