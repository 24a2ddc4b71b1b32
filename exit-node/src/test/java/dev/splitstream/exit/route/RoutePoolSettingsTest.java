package dev.splitstream.exit.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.exit.config.ConfigException;
import dev.splitstream.exit.config.TestConfigs;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The route pool's settings are read and checked when the pool is built, that is at the exit's start. */
class RoutePoolSettingsTest {
    private static Vertx vertx;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stop() {
        vertx.close().toCompletionStage().toCompletableFuture().join();
    }

    private static RoutePool pool(String... keyValues) {
        Map<String, String> p = new HashMap<>();
        p.put("splitstream.token", "0123456789abcdef");
        for (int i = 0; i < keyValues.length; i += 2) {
            p.put(keyValues[i], keyValues[i + 1]);
        }
        return new RoutePool(null, vertx, TestConfigs.config(p), new SimpleMeterRegistry());
    }

    @Test
    void responseReadAndSendTimeoutsDefaultToTheDocumentedOnesAndAreRead() {
        RoutePool defaults = pool();
        assertThat(defaults.responseTimeoutMillis()).isEqualTo(60_000);
        assertThat(defaults.readTimeoutMillis()).isEqualTo(120_000);
        assertThat(defaults.sendTimeoutMillis()).isEqualTo(60_000);
        RoutePool set = pool(
                "splitstream.exit.route-response-timeout",
                "4s",
                "splitstream.exit.route-read-timeout",
                "250ms",
                "splitstream.exit.route-send-timeout",
                "3s");
        assertThat(set.responseTimeoutMillis()).isEqualTo(4_000);
        assertThat(set.readTimeoutMillis()).isEqualTo(250);
        assertThat(set.sendTimeoutMillis()).isEqualTo(3_000);
    }

    @Test
    void zeroOrNegativeTimeoutsAreRefusedNamingTheKeyAndTheVariable() {
        assertThatThrownBy(() -> pool("splitstream.exit.route-response-timeout", "0s"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("splitstream.exit.route-response-timeout")
                .hasMessageContaining("SPLITSTREAM_EXIT_ROUTE_RESPONSE_TIMEOUT");
        assertThatThrownBy(() -> pool("splitstream.exit.route-read-timeout", "-1s"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("splitstream.exit.route-read-timeout")
                .hasMessageContaining("SPLITSTREAM_EXIT_ROUTE_READ_TIMEOUT");
        assertThatThrownBy(() -> pool("splitstream.exit.route-send-timeout", "0ms"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("splitstream.exit.route-send-timeout")
                .hasMessageContaining("SPLITSTREAM_EXIT_ROUTE_SEND_TIMEOUT");
        assertThatThrownBy(() -> pool("splitstream.exit.route-pool.idle-timeout", "0s"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("SPLITSTREAM_EXIT_ROUTE_POOL_IDLE_TIMEOUT");
    }
}
