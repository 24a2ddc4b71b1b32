package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The entry sidecar the mutating webhook adds to a pod labelled {@code splitstream.dev/inject-entry=<tunnel>}: the
 * same container as documented for hand-written sidecars, loading the Tunnel's entry Secret with envFrom.
 */
public final class SidecarInjection {
    static final String TMP_VOLUME = "splitstream-entry-tmp";

    private SidecarInjection() {}

    /** The Tunnel a pod asks for, if it asks for one and has no entry sidecar yet. */
    public static Optional<String> requestedTunnel(Pod pod) {
        Map<String, String> labels =
                pod.getMetadata() == null ? null : pod.getMetadata().getLabels();
        String tunnel = labels == null ? null : labels.get(LABEL_INJECT_ENTRY);
        if (tunnel == null || tunnel.isBlank() || pod.getSpec() == null) {
            return Optional.empty();
        }
        boolean present = pod.getSpec().getContainers() != null
                && pod.getSpec().getContainers().stream().anyMatch(c -> SIDECAR_CONTAINER.equals(c.getName()));
        return present ? Optional.empty() : Optional.of(tunnel);
    }

    public static Container container(String tunnel, OperatorDefaults defaults) {
        return new ContainerBuilder()
                .withName(SIDECAR_CONTAINER)
                .withImage(defaults.entryImage())
                .withImagePullPolicy(defaults.imagePullPolicy())
                .addNewEnvFrom()
                .withNewSecretRef()
                .withName(entryConfigSecretName(tunnel))
                .endSecretRef()
                .endEnvFrom()
                .addNewEnv()
                .withName("QUARKUS_HTTP_PORT")
                .withValue(Integer.toString(ENTRY_PORT))
                .endEnv()
                .withResources(EntryModel.DEFAULT_RESOURCES)
                .withNewReadinessProbe()
                .withNewHttpGet()
                .withPath("/q/health/ready")
                .withPort(new IntOrString(ENTRY_PORT))
                .endHttpGet()
                .withInitialDelaySeconds(2)
                .withPeriodSeconds(5)
                .endReadinessProbe()
                .withNewLivenessProbe()
                .withNewHttpGet()
                .withPath("/q/health/live")
                .withPort(new IntOrString(ENTRY_PORT))
                .endHttpGet()
                .withInitialDelaySeconds(5)
                .withPeriodSeconds(10)
                .endLivenessProbe()
                .withNewSecurityContext()
                .withRunAsNonRoot(true)
                .withRunAsUser(Pods.RUN_AS_USER)
                .withReadOnlyRootFilesystem(true)
                .withAllowPrivilegeEscalation(false)
                .withNewCapabilities()
                .addToDrop("ALL")
                .endCapabilities()
                .endSecurityContext()
                .addNewVolumeMount()
                .withName(TMP_VOLUME)
                .withMountPath(TMP_PATH)
                .endVolumeMount()
                .build();
    }

    /**
     * RFC 6902 operations adding the sidecar and its /tmp volume to the pod; empty when nothing is to be done.
     * Operations are maps ({@code op}, {@code path}, {@code value}) so any JSON writer can serialize them.
     */
    public static List<Map<String, Object>> patch(Pod pod, OperatorDefaults defaults) {
        Optional<String> tunnel = requestedTunnel(pod);
        if (tunnel.isEmpty()) {
            return List.of();
        }
        List<Map<String, Object>> ops = new ArrayList<>();
        ops.add(op("/spec/containers/-", container(tunnel.get(), defaults)));
        Volume tmp = new VolumeBuilder()
                .withName(TMP_VOLUME)
                .withNewEmptyDir()
                .endEmptyDir()
                .build();
        if (pod.getSpec().getVolumes() == null || pod.getSpec().getVolumes().isEmpty()) {
            ops.add(op("/spec/volumes", List.of(tmp)));
        } else {
            ops.add(op("/spec/volumes/-", tmp));
        }
        return ops;
    }

    private static Map<String, Object> op(String path, Object value) {
        Map<String, Object> op = new LinkedHashMap<>();
        op.put("op", "add");
        op.put("path", path);
        op.put("value", value);
        return op;
    }
}
