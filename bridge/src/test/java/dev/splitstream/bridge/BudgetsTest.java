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
        // Held bytes wait for their socket in direct memory: with 64 MiB of it a 48 MiB budget (3x = 144 MiB held)
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
    void refusesABudgetPastAThirdOfTheDirectMemory() {
        // three times the budget may be held (BufferBudget's bound), all of it direct buffers queued to sockets
        assertThatThrownBy(() -> Budgets.create(Optional.of(22 * MIB), 16 * 1024, STALL, 192 * MIB, 64 * MIB))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("splitstream.buffer.budget")
                .hasMessageContaining("a third of the maximum direct memory")
                .hasMessageContaining("MaxDirectMemorySize");
        assertThat(Budgets.create(Optional.of(21 * MIB), 16 * 1024, STALL, 192 * MIB, 64 * MIB)
                        .limit())
                .isEqualTo(21 * MIB);
    }

    @Test
    void refusesABudgetPastAThirdOfTheHeap() {
        assertThatThrownBy(() -> Budgets.create(Optional.of(43 * MIB), 16 * 1024, STALL, 128 * MIB, 1024 * MIB))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("a third of the maximum heap");
    }

    @Test
    void theShippedFlagsKeepTheWorstCaseBelowTheDirectMemory() {
        // scripts/jvm-opts.sh: -Xmx80m -XX:MaxDirectMemorySize=48m; the default budget is 12 MiB, 36 MiB at worst
        long limit = Budgets.create(Optional.empty(), 16 * 1024, STALL, 80 * MIB, 48 * MIB)
                .limit();
        assertThat(limit).isEqualTo(12 * MIB);
        assertThat(3 * limit).isLessThan(48 * MIB);
    }
}
