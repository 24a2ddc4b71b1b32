package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class BudgetsTest {
    private static final long MIB = 1024 * 1024;
    private static final Duration STALL = Duration.ofSeconds(30);

    @Test
    void defaultIsAQuarterOfTheHeapWhenDirectMemoryIsLarger() {
        assertThat(Budgets.create(Optional.empty(), 16 * 1024, STALL, 192 * MIB, 1024 * MIB)
                        .limit())
                .isEqualTo(48 * MIB);
    }

    @Test
    void defaultIsAQuarterOfDirectMemoryWhenThatIsSmaller() {
        // Held bytes wait for their socket in direct memory: with 64 MiB of it a 48 MiB budget (2x = 96 MiB held)
        // would run writes into -XX:MaxDirectMemorySize and block event loops.
        assertThat(Budgets.create(Optional.empty(), 16 * 1024, STALL, 192 * MIB, 64 * MIB)
                        .limit())
                .isEqualTo(16 * MIB);
    }

    @Test
    void unknownDirectLimitFallsBackToTheHeap() {
        assertThat(Budgets.create(Optional.empty(), 16 * 1024, STALL, 128 * MIB, -1)
                        .limit())
                .isEqualTo(32 * MIB);
    }

    @Test
    void refusesABudgetPastHalfTheDirectMemory() {
        assertThatThrownBy(() -> Budgets.create(Optional.of(48 * MIB), 16 * 1024, STALL, 192 * MIB, 64 * MIB))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("splitstream.buffer.budget")
                .hasMessageContaining("MaxDirectMemorySize");
        assertThat(Budgets.create(Optional.of(32 * MIB), 16 * 1024, STALL, 192 * MIB, 64 * MIB)
                        .limit())
                .isEqualTo(32 * MIB);
    }

    @Test
    void refusesABudgetPastHalfTheHeap() {
        assertThatThrownBy(() -> Budgets.create(Optional.of(80 * MIB), 16 * 1024, STALL, 128 * MIB, 1024 * MIB))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("half the maximum heap");
    }
}
