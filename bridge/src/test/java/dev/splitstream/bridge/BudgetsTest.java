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
        // Held bytes wait for their socket in direct memory: with 64 MiB of it a 48 MiB budget (up to 3.5x held)
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
    void refusesABudgetPastTwoSeventhsOfTheDirectMemory() {
        // held bytes may reach 3.5x the budget (BufferBudget), all of it direct memory at once
        assertThatThrownBy(() -> Budgets.create(Optional.of(19 * MIB), 16 * 1024, STALL, 192 * MIB, 64 * MIB))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("splitstream.buffer.budget")
                .hasMessageContaining("MaxDirectMemorySize");
        assertThat(Budgets.create(Optional.of(18 * MIB), 16 * 1024, STALL, 192 * MIB, 64 * MIB)
                        .limit())
                .isEqualTo(18 * MIB);
    }

    @Test
    void theShippedFlagsBudgetAtItsWorstStaysBelowTheirDirectMemory() {
        // scripts/jvm-opts.sh: -Xmx80m, -XX:MaxDirectMemorySize=48m: the default budget is 12 MiB
        long budget = Budgets.create(Optional.empty(), 16 * 1024, STALL, 80 * MIB, 48 * MIB)
                .limit();
        assertThat(budget).isEqualTo(12 * MIB);
        assertThat(budget * 7 / 2).as("the most bytes held (3.5x)").isLessThan(48 * MIB);
    }

    @Test
    void refusesABudgetPastTwoSeventhsOfTheHeap() {
        assertThatThrownBy(() -> Budgets.create(Optional.of(40 * MIB), 16 * 1024, STALL, 128 * MIB, 1024 * MIB))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2/7 of the maximum heap");
    }

    @Test
    void theRefusedMeanwhileCountIsKeptPerBudget() {
        // two budgets in one JVM (as in tests): one static count made the other's "refused meanwhile" negative
        dev.splitstream.protocol.BufferBudget a = full();
        dev.splitstream.protocol.BufferBudget b = full();
        for (int i = 0; i < 3; i++) {
            assertThat(a.tryOpen()).isNull();
            SocketBridge.noteBudget(a, false); // as a bridge does at each refusal
        }
        assertThat(b.tryOpen()).isNull();
        SocketBridge.noteBudget(b, false);
        assertThat(SocketBridge.refusedMeanwhile(a)).isEqualTo(3);
        assertThat(SocketBridge.refusedMeanwhile(b)).isEqualTo(1);
    }

    private static dev.splitstream.protocol.BufferBudget full() {
        dev.splitstream.protocol.BufferBudget budget =
                new dev.splitstream.protocol.BufferBudget(4 * 16 * 1024, 16 * 1024);
        for (int i = 0; i < 4; i++) {
            budget.tryOpen().charge(1);
        }
        return budget;
    }
}
