package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import dev.splitstream.operator.crd.v1alpha1.TokenSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
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
 * same container as documented for hand-written sidecars, loading the Tunnel's entry Secret with envFrom and reading
 * its token from the mounted token Secret.
 */
public final class SidecarInjection {
    static final String TMP_VOLUME = "splitstream-entry-tmp";
    static final String TOKEN_VOLUME = "splitstream-entry-token";
    /** Port names are unique across a pod's containers, and an application may call its own port "management". */
    static final String MANAGEMENT_PORT = "entry-mgmt";

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

    /** The sidecar container: its token comes from the volume {@value #TOKEN_VOLUME} the patch adds. */
    public static Container container(String tunnel, OperatorDefaults defaults) {
        int management = defaults.sidecarManagementPort();
        return new ContainerBuilder()
                .withName(SIDECAR_CONTAINER)
                .withImage(defaults.entryImage())
                .withImagePullPolicy(defaults.imagePullPolicy())
                .addNewEnvFrom()
                .withNewSecretRef()
                .withName(entryConfigSecretName(tunnel))
                .endSecretRef()
                .endEnvFrom()
                .addAllToEnv(Pods.managementEnv(management))
                .addToPorts(Pods.managementPort(management, MANAGEMENT_PORT))
                .withResources(EntryModel.DEFAULT_RESOURCES)
                .withReadinessProbe(Pods.readiness(MANAGEMENT_PORT))
                .withLivenessProbe(Pods.liveness(MANAGEMENT_PORT))
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
                .addToVolumeMounts(Pods.tokenMount(TOKEN_VOLUME))
                .build();
    }

    /**
     * RFC 6902 operations adding the sidecar, its /tmp volume and its token volume to the pod; empty when nothing is
     * to be done. {@code token} is the Tunnel's token settings, null when the Tunnel is not found (the generated
     * credentials Secret is assumed). Operations are maps ({@code op}, {@code path}, {@code value}) so any JSON writer
     * can serialize them.
     */
    public static List<Map<String, Object>> patch(Pod pod, OperatorDefaults defaults, TokenSpec token) {
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
        Volume tokenVolume = Pods.tokenVolume(TOKEN_VOLUME, tunnel.get(), token);
        if (pod.getSpec().getVolumes() == null || pod.getSpec().getVolumes().isEmpty()) {
            ops.add(op("/spec/volumes", List.of(tmp, tokenVolume)));
        } else {
            ops.add(op("/spec/volumes/-", tmp));
            ops.add(op("/spec/volumes/-", tokenVolume));
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
