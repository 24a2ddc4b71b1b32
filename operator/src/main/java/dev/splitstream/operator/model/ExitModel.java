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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Desired state of the exit node: its Deployment and Service. */
public final class ExitModel {
    static final ResourceRequirements DEFAULT_RESOURCES = new ResourceRequirementsBuilder()
            .addToRequests("cpu", new Quantity("100m"))
            .addToRequests("memory", new Quantity("128Mi"))
            .addToLimits("memory", new Quantity("384Mi"))
            .build();

    public static final String REGISTRY_MEMORY = "memory";
    public static final String REGISTRY_POSTGRES = "postgres";

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

    /** Whether the exit keeps its registry in PostgreSQL (spec.registry set), which replicas need. */
    public static boolean usesRegistry(TunnelSpec spec) {
        return spec.registry != null;
    }

    /** {@code postgres} or {@code memory}, as the status reports it. */
    public static String registry(TunnelSpec spec) {
        return usesRegistry(spec) ? REGISTRY_POSTGRES : REGISTRY_MEMORY;
    }

    public static Deployment deployment(Tunnel tunnel, OperatorDefaults defaults) {
        TunnelSpec spec = tunnel.getSpec();
        String image = spec.exit.image != null ? spec.exit.image : defaults.exitImage();
        String pullPolicy = spec.exit.imagePullPolicy != null ? spec.exit.imagePullPolicy : defaults.imagePullPolicy();
        boolean generated = spec.token.existingSecret == null;

        List<EnvVar> env = new ArrayList<>();
        env.add(new EnvVar("QUARKUS_HTTP_PORT", Integer.toString(EXIT_PORT), null));
        env.addAll(Pods.managementEnv(MANAGEMENT_PORT));
        String allow = allowList(spec);
        if (!allow.isEmpty()) {
            env.add(new EnvVar("SPLITSTREAM_EXIT_ALLOW", allow, null));
        }
        if (generated) {
            env.add(new EnvVar("SPLITSTREAM_EXIT_TOKENS_FILE", TOKENS_FILE_PATH, null));
        } else {
            env.add(new EnvVar("SPLITSTREAM_TOKEN_FILE", Pods.tokenFile(spec.token, spec.token.id), null));
            env.add(new EnvVar("SPLITSTREAM_TOKEN_ID", spec.token.id, null));
        }
        env.add(new EnvVar("SPLITSTREAM_COMPRESSION", spec.compression, null));
        if (spec.encryption != null) {
            env.add(new EnvVar("SPLITSTREAM_ENCRYPTION", spec.encryption, null));
        }
        exposeEnv(tunnel, env);
        registryEnv(tunnel, env);
        if (spec.exit.dashboard != null && spec.exit.dashboard.secretName != null) {
            env.add(Pods.secretEnv(
                    "SPLITSTREAM_EXIT_DASHBOARD_USER", spec.exit.dashboard.secretName, spec.exit.dashboard.userKey));
            env.add(Pods.secretEnv(
                    "SPLITSTREAM_EXIT_DASHBOARD_PASSWORD",
                    spec.exit.dashboard.secretName,
                    spec.exit.dashboard.passwordKey));
        }

        // The token files are mounted as whole directories, never with subPath: kubelet only refreshes a projected
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
                .addToPorts(Pods.managementPort(MANAGEMENT_PORT))
                .withEnv(env)
                .withResources(spec.exit.resources != null ? spec.exit.resources : DEFAULT_RESOURCES)
                .withLivenessProbe(Pods.liveness())
                .withReadinessProbe(Pods.readiness())
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
        } else {
            container.addToVolumeMounts(Pods.tokenMount("token"));
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
                    .withDefaultMode(Pods.SECRET_FILE_MODE)
                    .endSecret()
                    .endVolume();
        } else {
            podSpec.addToVolumes(Pods.tokenVolume("token", tunnel.getMetadata().getName(), spec.token));
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
                .withAnnotations(Pods.scrapeAnnotations())
                .endMetadata()
                .withSpec(podSpec.build())
                .endTemplate()
                .endSpec()
                .build();
    }

    /** Expose mode: public ports, lease, host-route domain, Hub token. */
    private static void exposeEnv(Tunnel tunnel, List<EnvVar> env) {
        TunnelSpec spec = tunnel.getSpec();
        if (!ExposeModel.isExpose(spec)) {
            return;
        }
        if (ExposeModel.hasPublicPorts(tunnel)) {
            env.add(new EnvVar(
                    "SPLITSTREAM_EXIT_PUBLIC_PORTS", ExposeModel.publicPortRange(spec.expose.publicPorts), null));
        }
        if (spec.expose.lease != null) {
            env.add(new EnvVar("SPLITSTREAM_EXIT_LEASE", spec.expose.lease, null));
        }
        if (ExposeModel.hasHostRoutes(tunnel)) {
            env.add(new EnvVar("SPLITSTREAM_EXIT_HTTP_DOMAIN", spec.expose.httpDomain.trim(), null));
        }
        if (ExposeModel.hasHub(tunnel)) {
            env.add(Pods.secretEnv("SPLITSTREAM_EXIT_HUB_TOKEN", hubTokenSecretName(tunnel), KEY_GENERATED_TOKEN));
        }
    }

    /**
     * PostgreSQL registry: the datasource from the user's Secret, the generated cluster secret, and the URL other
     * replicas reach this one at (its pod IP, from the downward API; $(POD_IP) is expanded by the kubelet).
     */
    private static void registryEnv(Tunnel tunnel, List<EnvVar> env) {
        TunnelSpec spec = tunnel.getSpec();
        if (!usesRegistry(spec)) {
            return;
        }
        env.add(new EnvVar("SPLITSTREAM_EXIT_REGISTRY", REGISTRY_POSTGRES, null));
        env.add(Pods.secretEnv("QUARKUS_DATASOURCE_JDBC_URL", spec.registry.secretName, spec.registry.jdbcUrlKey));
        env.add(Pods.secretEnv("QUARKUS_DATASOURCE_USERNAME", spec.registry.secretName, spec.registry.usernameKey));
        env.add(Pods.secretEnv("QUARKUS_DATASOURCE_PASSWORD", spec.registry.secretName, spec.registry.passwordKey));
        env.add(Pods.secretEnv("SPLITSTREAM_EXIT_CLUSTER_SECRET", clusterSecretName(tunnel), KEY_GENERATED_TOKEN));
        env.add(new EnvVarBuilder()
                .withName("POD_IP")
                .withNewValueFrom()
                .withNewFieldRef()
                .withFieldPath("status.podIP")
                .endFieldRef()
                .endValueFrom()
                .build());
        env.add(new EnvVar("SPLITSTREAM_EXIT_REPLICA_URL", "http://$(POD_IP):" + EXIT_PORT, null));
    }

    /**
     * The headless Service of the exit replicas: DNS lists every replica's address, ready or not (a replica relays to
     * the owner of a session before it is ready itself).
     */
    public static Service peersService(Tunnel tunnel) {
        return new ServiceBuilder()
                .withNewMetadata()
                .withName(exitPeersServiceName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_EXIT))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withNewSpec()
                .withClusterIP("None")
                .withPublishNotReadyAddresses(true)
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
}
