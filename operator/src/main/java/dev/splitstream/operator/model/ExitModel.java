package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Desired state of the exit node: its Deployment and Service. */
public final class ExitModel {
    static final ResourceRequirements DEFAULT_RESOURCES = new ResourceRequirementsBuilder()
            .addToRequests("cpu", new Quantity("100m"))
            .addToRequests("memory", new Quantity("128Mi"))
            .addToLimits("memory", new Quantity("384Mi"))
            .build();

    private ExitModel() {}

    /** The exit allow-list: the targets (forward mode) followed by spec.allow, without duplicates. */
    public static String allowList(TunnelSpec spec) {
        Set<String> allow = new LinkedHashSet<>();
        if (TunnelSpec.MODE_FORWARD.equals(spec.mode)) {
            allow.addAll(spec.targets);
        }
        allow.addAll(spec.allow);
        return String.join(",", allow);
    }

    public static Deployment deployment(Tunnel tunnel, OperatorDefaults defaults) {
        TunnelSpec spec = tunnel.getSpec();
        String image = spec.exit.image != null ? spec.exit.image : defaults.exitImage();
        String pullPolicy = spec.exit.imagePullPolicy != null ? spec.exit.imagePullPolicy : defaults.imagePullPolicy();
        boolean generated = spec.token.existingSecret == null;

        List<EnvVar> env = new ArrayList<>();
        env.add(new EnvVar("QUARKUS_HTTP_PORT", Integer.toString(EXIT_PORT), null));
        String allow = allowList(spec);
        if (!allow.isEmpty()) {
            env.add(new EnvVar("SPLITSTREAM_EXIT_ALLOW", allow, null));
        }
        if (generated) {
            env.add(new EnvVar("SPLITSTREAM_EXIT_TOKENS_FILE", TOKENS_FILE_PATH, null));
        } else {
            env.add(secretEnv("SPLITSTREAM_TOKEN", spec.token.existingSecret, spec.token.existingSecretKey));
            env.add(new EnvVar("SPLITSTREAM_TOKEN_ID", spec.token.id, null));
        }
        env.add(secretEnv("SPLITSTREAM_HMAC_KEY", credentialsSecretName(tunnel), KEY_HMAC_KEY));
        env.add(new EnvVar("SPLITSTREAM_COMPRESSION", spec.compression, null));

        Map<String, String> podAnnotations = new LinkedHashMap<>();
        podAnnotations.put("prometheus.io/scrape", "true");
        podAnnotations.put("prometheus.io/path", "/q/metrics");
        podAnnotations.put("prometheus.io/port", Integer.toString(EXIT_PORT));

        // The tokens file is mounted as a whole directory, never with subPath: kubelet only refreshes a projected
        // Secret in place when it is not mounted by subPath, and a rotation must reach running pods.
        var container = new io.fabric8.kubernetes.api.model.ContainerBuilder()
                .withName("exit")
                .withImage(image)
                .withImagePullPolicy(pullPolicy)
                .addNewPort()
                .withName(PORT_NAME)
                .withContainerPort(EXIT_PORT)
                .withProtocol("TCP")
                .endPort()
                .withEnv(env)
                .withResources(spec.exit.resources != null ? spec.exit.resources : DEFAULT_RESOURCES)
                .withNewLivenessProbe()
                .withNewHttpGet()
                .withPath("/q/health/live")
                .withPort(new IntOrString(PORT_NAME))
                .endHttpGet()
                .withInitialDelaySeconds(5)
                .withPeriodSeconds(10)
                .withFailureThreshold(3)
                .endLivenessProbe()
                .withNewReadinessProbe()
                .withNewHttpGet()
                .withPath("/q/health/ready")
                .withPort(new IntOrString(PORT_NAME))
                .endHttpGet()
                .withInitialDelaySeconds(2)
                .withPeriodSeconds(5)
                .withFailureThreshold(3)
                .endReadinessProbe()
                .withSecurityContext(Pods.containerSecurityContext())
                .addNewVolumeMount()
                .withName("tmp")
                .withMountPath(TMP_PATH)
                .endVolumeMount();
        if (generated) {
            container
                    .addNewVolumeMount()
                    .withName("tokens")
                    .withMountPath(TOKENS_MOUNT_PATH)
                    .withReadOnly(true)
                    .endVolumeMount();
        }

        var podSpec = new io.fabric8.kubernetes.api.model.PodSpecBuilder()
                .withSecurityContext(Pods.podSecurityContext())
                .withAutomountServiceAccountToken(false)
                .withTerminationGracePeriodSeconds(30L)
                .withContainers(container.build())
                .addNewVolume()
                .withName("tmp")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume();
        if (generated) {
            podSpec.addNewVolume()
                    .withName("tokens")
                    .withNewSecret()
                    .withSecretName(credentialsSecretName(tunnel))
                    .addNewItem()
                    .withKey(KEY_TOKENS_FILE)
                    .withPath(KEY_TOKENS_FILE)
                    .endItem()
                    .withDefaultMode(0440)
                    .endSecret()
                    .endVolume();
        }

        return new DeploymentBuilder()
                .withNewMetadata()
                .withName(exitName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_EXIT))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withNewSpec()
                .withReplicas(spec.exit.replicas)
                .withNewSelector()
                .withMatchLabels(selector(tunnel, COMPONENT_EXIT))
                .endSelector()
                .withNewTemplate()
                .withNewMetadata()
                .withLabels(labels(tunnel, COMPONENT_EXIT))
                .withAnnotations(podAnnotations)
                .endMetadata()
                .withSpec(podSpec.build())
                .endTemplate()
                .endSpec()
                .build();
    }

    public static Service service(Tunnel tunnel) {
        return new ServiceBuilder()
                .withNewMetadata()
                .withName(exitName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_EXIT))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withNewSpec()
                .withType(tunnel.getSpec().exit.serviceType)
                .withSelector(selector(tunnel, COMPONENT_EXIT))
                .addNewPort()
                .withName(PORT_NAME)
                .withPort(EXIT_PORT)
                .withTargetPort(new IntOrString(PORT_NAME))
                .withProtocol("TCP")
                .endPort()
                .endSpec()
                .build();
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
