package dev.splitstream.exit.transport;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SourceSlotsTest {
    @Test
    void oneSourceCannotTakeMoreThanItsShare() {
        SourceSlots slots = new SourceSlots(10, 3);
        for (int i = 0; i < 3; i++) {
            assertThat(slots.acquire("10.0.0.1")).isEqualTo(SourceSlots.Refusal.NONE);
        }
        assertThat(slots.acquire("10.0.0.1")).isEqualTo(SourceSlots.Refusal.SOURCE);
        assertThat(slots.acquire("10.0.0.2")).isEqualTo(SourceSlots.Refusal.NONE);
        assertThat(slots.size()).isEqualTo(4);
    }

    @Test
    void totalBoundsAllSources() {
        SourceSlots slots = new SourceSlots(2, 2);
        assertThat(slots.acquire("a")).isEqualTo(SourceSlots.Refusal.NONE);
        assertThat(slots.acquire("b")).isEqualTo(SourceSlots.Refusal.NONE);
        assertThat(slots.acquire("c")).isEqualTo(SourceSlots.Refusal.TOTAL);
        slots.release("a");
        assertThat(slots.acquire("c")).isEqualTo(SourceSlots.Refusal.NONE);
    }

    @Test
    void releasedSourcesLeaveNoEntryBehind() {
        SourceSlots slots = new SourceSlots(100, 5);
        for (int i = 0; i < 50; i++) {
            slots.acquire("s" + i);
        }
        for (int i = 0; i < 50; i++) {
            slots.release("s" + i);
        }
        assertThat(slots.size()).isZero();
        assertThat(slots.held("s1")).isZero();
        assertThat(slots.acquire("s1")).isEqualTo(SourceSlots.Refusal.NONE);
    }
}
