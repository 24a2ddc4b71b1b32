package dev.splitstream.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.TokenSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SidecarInjectionTest {
    @Test
    void labelledPodGetsTheEntryContainerATmpVolumeAndItsTokenVolume() {
        Pod pod = pod(Map.of("splitstream.dev/inject-entry", "db"), false);
        List<Map<String, Object>> patch = SidecarInjection.patch(pod, OperatorDefaults.BUILT_IN, null);

        assertThat(patch).extracting(op -> op.get("path")).containsExactly("/spec/containers/-", "/spec/volumes");
        Container entry = (Container) patch.get(0).get("value");
        assertThat(entry.getName()).isEqualTo("splitstream-entry");
        assertThat(entry.getImage()).isEqualTo("splitstream/entry-node:0.1.0");
        assertThat(entry.getEnvFrom().get(0).getSecretRef().getName()).isEqualTo("db-entry");
        assertThat(entry.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(entry.getVolumeMounts())
                .extracting(m -> m.getName() + ":" + m.getMountPath())
                .containsExactly("splitstream-entry-tmp:/tmp", "splitstream-entry-token:/etc/splitstream/token");
        assertThat(entry.getReadinessProbe().getHttpGet().getPort().getStrVal())
                .as("port names are unique in a pod: not the application's 'management'")
                .isEqualTo("entry-mgmt");
        assertThat(entry.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("entry-mgmt");
        assertThat(entry.getPorts()).singleElement().satisfies(p -> {
            assertThat(p.getName()).isEqualTo("entry-mgmt");
            assertThat(p.getContainerPort()).isEqualTo(9000);
        });
        @SuppressWarnings("unchecked")
        List<Volume> volumes = (List<Volume>) patch.get(1).get("value");
        assertThat(volumes)
                .extracting(Volume::getName)
                .containsExactly("splitstream-entry-tmp", "splitstream-entry-token");
        assertThat(volumes.get(1).getSecret().getSecretName()).isEqualTo("db-credentials");
    }

    @Test
    void anExistingTokenSecretIsMountedAsTheTokenFileAndTheManagementPortIsAnOperatorSetting() {
        TokenSpec token = new TokenSpec();
        token.existingSecret = "shared";
        OperatorDefaults defaults = new OperatorDefaults("x", "entry:1", "Always", 9100);
        List<Map<String, Object>> patch =
                SidecarInjection.patch(pod(Map.of("splitstream.dev/inject-entry", "db"), true), defaults, token);
        assertThat(patch)
                .extracting(op -> op.get("path"))
                .containsExactly("/spec/containers/-", "/spec/volumes/-", "/spec/volumes/-");
        Volume volume = (Volume) patch.get(2).get("value");
        assertThat(volume.getSecret().getSecretName()).isEqualTo("shared");
        assertThat(volume.getSecret().getItems())
                .singleElement()
                .satisfies(i -> assertThat(i.getKey() + "->" + i.getPath()).isEqualTo("token->token"));
        Container entry = (Container) patch.get(0).get("value");
        assertThat(entry.getPorts()).singleElement().satisfies(p -> assertThat(p.getContainerPort())
                .isEqualTo(9100));
        assertThat(entry.getEnv()).anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue())
                .isEqualTo("QUARKUS_MANAGEMENT_PORT=9100"));
    }

    @Test
    void existingVolumesAreAppendedTo() {
        Pod pod = pod(Map.of("splitstream.dev/inject-entry", "db"), true);
        assertThat(SidecarInjection.patch(pod, OperatorDefaults.BUILT_IN, null))
                .extracting(op -> op.get("path"))
                .containsExactly("/spec/containers/-", "/spec/volumes/-", "/spec/volumes/-");
    }

    @Test
    void unlabelledOrAlreadyInjectedPodsAreLeftAlone() {
        assertThat(SidecarInjection.patch(pod(Map.of("app", "x"), false), OperatorDefaults.BUILT_IN, null))
                .isEmpty();
        Pod injected = pod(Map.of("splitstream.dev/inject-entry", "db"), false);
        injected.getSpec().getContainers().add(SidecarInjection.container("db", OperatorDefaults.BUILT_IN));
        assertThat(SidecarInjection.patch(injected, OperatorDefaults.BUILT_IN, null))
                .isEmpty();
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
