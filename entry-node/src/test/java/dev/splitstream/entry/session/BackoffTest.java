package dev.splitstream.entry.session;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BackoffTest {

    @Test
    void ceilingDoublesFromMinUpToMax() {
        Backoff b = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(10), () -> 0.5);
        assertThat(b.ceilingMillis(0)).isEqualTo(250);
        assertThat(b.ceilingMillis(1)).isEqualTo(500);
        assertThat(b.ceilingMillis(2)).isEqualTo(1000);
        assertThat(b.ceilingMillis(5)).isEqualTo(8000);
        assertThat(b.ceilingMillis(6)).isEqualTo(10_000);
        assertThat(b.ceilingMillis(1000)).isEqualTo(10_000);
    }

    @Test
    void jitterStaysInTheUpperHalfAndNeverBelowMin() {
        Random random = new Random(42);
        Backoff b = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(10), random::nextDouble);
        for (int i = 0; i < 100; i++) {
            long ceiling = b.ceilingMillis(b.attempts());
            long d = b.nextDelayMillis();
            assertThat(d).isBetween(Math.max(250, ceiling / 2), ceiling);
        }
        assertThat(b.nextDelayMillis()).isBetween(5_000L, 10_000L);
    }

    @Test
    void extremesOfTheRandomSourceStayInRange() {
        Backoff low = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), () -> 0.0);
        Backoff high = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1), () -> 0.999999);
        assertThat(low.nextDelayMillis()).isEqualTo(100);
        assertThat(high.nextDelayMillis()).isEqualTo(100);
        assertThat(low.nextDelayMillis()).isEqualTo(100);
        assertThat(high.nextDelayMillis()).isEqualTo(200);
    }

    @Test
    void resetStartsOverFromMin() {
        Backoff b = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(10), () -> 1.0 - 1e-9);
        for (int i = 0; i < 10; i++) {
            b.nextDelayMillis();
        }
        assertThat(b.nextDelayMillis()).isEqualTo(10_000);
        b.reset();
        assertThat(b.attempts()).isZero();
        assertThat(b.nextDelayMillis()).isEqualTo(250);
    }
}
