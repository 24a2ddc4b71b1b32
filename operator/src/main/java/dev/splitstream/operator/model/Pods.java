package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import dev.splitstream.operator.crd.v1alpha1.TokenSpec;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What every node pod gets: hardening, the management port with probes and scrape annotations, the token mount. */
public final class Pods {
    /** The uid of the user in the Quarkus base images (see deploy/docker). */
    static final long RUN_AS_USER = 185L;

    /** Owner-read, group-read: the files of a mounted Secret. */
    static final int SECRET_FILE_MODE = 0440;

    private Pods() {}

    static PodSecurityContext podSecurityContext() {
        return new PodSecurityContextBuilder()
                .withRunAsNonRoot(true)
                .withRunAsUser(RUN_AS_USER)
                .withFsGroup(RUN_AS_USER)
                .withNewSeccompProfile()
                .withType("RuntimeDefault")
                .endSeccompProfile()
                .build();
    }

    static SecurityContext containerSecurityContext() {
        return new SecurityContextBuilder()
                .withRunAsNonRoot(true)
                .withReadOnlyRootFilesystem(true)
                .withAllowPrivilegeEscalation(false)
                .withNewCapabilities()
                .addToDrop("ALL")
                .endCapabilities()
                .build();
    }

    /**
     * The management interface's settings: its port, and bound to every address of the pod, since the kubelet's
     * probes and Prometheus reach it on the pod IP (the nodes bind it to loopback by default).
     */
    static List<EnvVar> managementEnv(int port) {
        return List.of(
                new EnvVar("QUARKUS_MANAGEMENT_PORT", Integer.toString(port), null),
                new EnvVar("QUARKUS_MANAGEMENT_HOST", "0.0.0.0", null));
    }

    static ContainerPort managementPort(int port) {
        return managementPort(port, MANAGEMENT_PORT_NAME);
    }

    static ContainerPort managementPort(int port, String name) {
        return new ContainerPortBuilder()
                .withName(name)
                .withContainerPort(port)
                .withProtocol("TCP")
                .build();
    }

    static Probe liveness() {
        return liveness(MANAGEMENT_PORT_NAME);
    }

    static Probe liveness(String portName) {
        return new ProbeBuilder()
                .withNewHttpGet()
                .withPath(HEALTH_LIVE_PATH)
                .withPort(new IntOrString(portName))
                .endHttpGet()
                .withInitialDelaySeconds(5)
                .withPeriodSeconds(10)
                .withFailureThreshold(3)
                .build();
    }

    static Probe readiness() {
        return readiness(MANAGEMENT_PORT_NAME);
    }

    static Probe readiness(String portName) {
        return new ProbeBuilder()
                .withNewHttpGet()
                .withPath(HEALTH_READY_PATH)
                .withPort(new IntOrString(portName))
                .endHttpGet()
                .withInitialDelaySeconds(2)
                .withPeriodSeconds(5)
                .withFailureThreshold(3)
                .build();
    }

    /** The {@code prometheus.io/*} annotations of a node pod: metrics on the management port. */
    static Map<String, String> scrapeAnnotations() {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put("prometheus.io/scrape", "true");
        annotations.put("prometheus.io/path", METRICS_PATH);
        annotations.put("prometheus.io/port", Integer.toString(MANAGEMENT_PORT));
        return annotations;
    }

    /**
     * The volume holding a node's token file. A generated token: the whole credentials Secret, whose
     * {@code token.<id>} keys stay in place through a rotation's grace period. An existing Secret: its token key as
     * the file {@code token}. Mounted as a directory, never with subPath, so kubelet refreshes it in place.
     */
    public static Volume tokenVolume(String volumeName, String tunnelName, TokenSpec token) {
        var secret = new VolumeBuilder().withName(volumeName).withNewSecret().withDefaultMode(SECRET_FILE_MODE);
        if (token == null || token.existingSecret == null) {
            secret.withSecretName(credentialsSecretName(tunnelName));
        } else {
            secret.withSecretName(token.existingSecret)
                    .addNewItem()
                    .withKey(token.existingSecretKey)
                    .withPath(KEY_TOKEN)
                    .endItem();
        }
        return secret.endSecret().build();
    }

    public static VolumeMount tokenMount(String volumeName) {
        return new VolumeMountBuilder()
                .withName(volumeName)
                .withMountPath(TOKEN_MOUNT_PATH)
                .withReadOnly(true)
                .build();
    }

    /** SPLITSTREAM_TOKEN_FILE: the file of the token with this id (generated) or of the existing Secret's token. */
    static String tokenFile(TokenSpec token, String tokenId) {
        return TOKEN_MOUNT_PATH + "/" + (token.existingSecret == null ? tokenKey(tokenId) : KEY_TOKEN);
    }

    static EnvVar secretEnv(String name, String secret, String key) {
        return new EnvVarBuilder()
                .withName(name)
                .withNewValueFrom()
                .withNewSecretKeyRef()
                .withName(secret)
                .withKey(key)
                .endSecretKeyRef()
                .endValueFrom()
                .build();
    }
}
