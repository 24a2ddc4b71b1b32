package dev.splitstream.exit.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class RefusalsTest {
    @Test
    void keepsTheNewestUpToCapacityNewestFirst() {
        Refusals refusals = new Refusals(3);
        for (int i = 0; i < 5; i++) {
            refusals.add(new Refusals.Refusal(Instant.EPOCH, "stream", "NOT_ALLOWED", "r" + i));
        }
        assertThat(refusals.newestFirst()).extracting(Refusals.Refusal::detail).containsExactly("r4", "r3", "r2");
    }

    @Test
    void cutsLongDetailsAPeerMayHaveChosen() {
        Refusals refusals = new Refusals(3);
        refusals.add(new Refusals.Refusal(Instant.EPOCH, "handshake", "AUTH_FAILED", "x".repeat(10_000)));
        assertThat(refusals.newestFirst().get(0).detail())
                .hasSize(Refusals.MAX_DETAIL + 1)
                .endsWith("…");
    }
}
