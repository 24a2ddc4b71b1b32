package dev.splitstream.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SidecarInjectionTest {
    @Test
    void labelledPodGetsTheEntryContainerAndATmpVolume() {
        Pod pod = pod(Map.of("splitstream.dev/inject-entry", "db"), false);
        List<Map<String, Object>> patch = SidecarInjection.patch(pod, OperatorDefaults.BUILT_IN);

        assertThat(patch).extracting(op -> op.get("path")).containsExactly("/spec/containers/-", "/spec/volumes");
        Container entry = (Container) patch.get(0).get("value");
        assertThat(entry.getName()).isEqualTo("splitstream-entry");
        assertThat(entry.getImage()).isEqualTo("splitstream/entry-node:0.1.0");
        assertThat(entry.getEnvFrom().get(0).getSecretRef().getName()).isEqualTo("db-entry");
        assertThat(entry.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(entry.getVolumeMounts()).singleElement().satisfies(m -> assertThat(m.getMountPath())
                .isEqualTo("/tmp"));
    }

    @Test
    void existingVolumesAreAppendedTo() {
        Pod pod = pod(Map.of("splitstream.dev/inject-entry", "db"), true);
        assertThat(SidecarInjection.patch(pod, OperatorDefaults.BUILT_IN))
                .extracting(op -> op.get("path"))
                .containsExactly("/spec/containers/-", "/spec/volumes/-");
    }

    @Test
    void unlabelledOrAlreadyInjectedPodsAreLeftAlone() {
        assertThat(SidecarInjection.patch(pod(Map.of("app", "x"), false), OperatorDefaults.BUILT_IN))
                .isEmpty();
        Pod injected = pod(Map.of("splitstream.dev/inject-entry", "db"), false);
        injected.getSpec().getContainers().add(SidecarInjection.container("db", OperatorDefaults.BUILT_IN));
        assertThat(SidecarInjection.patch(injected, OperatorDefaults.BUILT_IN)).isEmpty();
    }

    private static Pod pod(Map<String, String> labels, boolean withVolume) {
        var builder = new PodBuilder()
                .withNewMetadata()
                .withName("app")
                .withLabels(labels)
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("app")
                .withImage("app:1")
                .endContainer();
        if (withVolume) {
            builder.addNewVolume()
                    .withName("data")
                    .withNewEmptyDir()
                    .endEmptyDir()
                    .endVolume();
        }
        return builder.endSpec().build();
    }
}
