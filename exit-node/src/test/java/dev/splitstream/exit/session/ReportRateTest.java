package dev.splitstream.exit.session;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ReportRateTest {
    @Test
    void aBurstPassesThenTheRateHolds() {
        ExitSession.ReportRate rate = new ExitSession.ReportRate(100, 100);
        long t = 1_000_000_000L;
        int passed = 0;
        for (int i = 0; i < 500; i++) {
            if (rate.take(t)) {
                passed++;
            }
        }
        assertThat(passed).isEqualTo(100);
        // one second later: 100 more, never more than the burst
        t += 1_000_000_000L;
        passed = 0;
        for (int i = 0; i < 500; i++) {
            if (rate.take(t)) {
                passed++;
            }
        }
        assertThat(passed).isEqualTo(100);
        // ten milliseconds later: one more
        t += 10_000_000L;
        assertThat(rate.take(t)).isTrue();
        assertThat(rate.take(t)).isFalse();
        // a long pause saves up no more than the burst
        t += 60_000_000_000L;
        passed = 0;
        for (int i = 0; i < 500; i++) {
            if (rate.take(t)) {
                passed++;
            }
        }
        assertThat(passed).isEqualTo(100);
    }
}
