package dev.splitstream.operator.reconciler;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Condition;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConditionsTest {
    private static final Instant T0 = Instant.parse("2026-11-22T00:00:00.500Z");
    private static final Instant T1 = Instant.parse("2026-11-22T00:05:00Z");

    @Test
    void lastTransitionTimeIsKeptWhileTheStatusStaysTheSame() {
        List<Condition> first = new Conditions(List.of(), 1L, T0)
                .set("ExitReady", false, "DeploymentNotReady", "0/1")
                .toList();
        assertThat(first.get(0).getLastTransitionTime()).isEqualTo("2026-11-22T00:00:00Z");

        List<Condition> second = new Conditions(first, 2L, T1)
                .set("ExitReady", false, "DeploymentNotReady", "0/2")
                .toList();
        assertThat(second.get(0).getLastTransitionTime()).isEqualTo("2026-11-22T00:00:00Z");
        assertThat(second.get(0).getMessage()).isEqualTo("0/2");
        assertThat(second.get(0).getObservedGeneration()).isEqualTo(2L);

        List<Condition> third = new Conditions(second, 2L, T1)
                .set("ExitReady", true, "DeploymentReady", "2/2")
                .toList();
        assertThat(third.get(0).getLastTransitionTime()).isEqualTo("2026-11-22T00:05:00Z");
    }

    @Test
    void sameInputsGiveEqualConditionsSoNothingIsPatched() {
        List<Condition> first = new Conditions(List.of(), 1L, T0)
                .set("EntryReady", true, "SidecarOnly", "m")
                .set("Ready", true, "AllReady", "m")
                .toList();
        List<Condition> again = new Conditions(first, 1L, T1)
                .set("Ready", true, "AllReady", "m")
                .set("EntryReady", true, "SidecarOnly", "m")
                .toList();
        assertThat(again).isEqualTo(first);
        assertThat(again.get(0).getType()).as("Ready first").isEqualTo("Ready");
    }

    @Test
    void keepCarriesAPreviousConditionOver() {
        List<Condition> first = new Conditions(List.of(), 1L, T0)
                .set("ExitReady", true, "DeploymentReady", "1/1")
                .toList();
        List<Condition> kept = new Conditions(first, 2L, T1)
                .keep("ExitReady")
                .keep("IngressReady")
                .toList();
        assertThat(kept).isEqualTo(first);
    }
}
