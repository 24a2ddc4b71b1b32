package dev.splitstream.exit.metrics;

import dev.splitstream.exit.config.ExitSettings;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The configured limits as gauges, so that alerts can compare use with them (splitstream_exit_sessions /
 * splitstream_exit_sessions_max) without knowing the configuration.
 */
@Startup
@ApplicationScoped
public class LimitGauges {
    public LimitGauges(MeterRegistry registry, ExitSettings settings) {
        int maxSessions = settings.maxSessions();
        Gauge.builder("splitstream.exit.sessions.max", () -> maxSessions)
                .description("Sessions this node holds at most (splitstream.exit.max-sessions)")
                .register(registry);
    }
}
