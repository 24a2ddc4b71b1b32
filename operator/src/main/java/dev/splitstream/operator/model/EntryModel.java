package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerPortBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServiceSpecBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Desired state of the entry side: a Secret holding the entry node's whole environment (so a sidecar needs only
 * {@code envFrom}), and the entry Deployment unless the Tunnel is sidecar-only.
 */
public final class EntryModel {
    static final ResourceRequirements DEFAULT_RESOURCES = new ResourceRequirementsBuilder()
            .addToRequests("cpu", new Quantity("50m"))
            .addToRequests("memory", new Quantity("96Mi"))
            .addToLimits("memory", new Quantity("256Mi"))
            .build();

    static final String TOKEN_VOLUME = "token";

    private EntryModel() {}

    /** Whether the Tunnel runs an entry Deployment (not only sidecar configuration). */
    public static boolean hasDeployment(Tunnel tunnel) {
        return !Boolean.TRUE.equals(tunnel.getSpec().entry.sidecarOnly);
    }

    /**
     * The entry node's environment, the whole of it for a sidecar. {@code credentials} is the generated credentials
     * Secret, {@code routeToken} the generated route token. The token itself is never in it: the entry reads it from
     * the mounted token Secret ({@code SPLITSTREAM_TOKEN_FILE}), so a changed Secret reaches running pods.
     */
    public static Map<String, String> environment(
            Tunnel tunnel, Optional<Secret> credentials, Optional<String> routeToken) {
        TunnelSpec spec = tunnel.getSpec();
        Endpoints endpoints = Endpoints.of(tunnel);
        Map<String, String> env = new LinkedHashMap<>();
        if (endpoints.split()) {
            env.put("SPLITSTREAM_ENTRY_UPSTREAM", endpoints.upstreamUrl());
            env.put("SPLITSTREAM_ENTRY_DOWNSTREAM", endpoints.downstreamUrl());
        } else {
            env.put("SPLITSTREAM_ENTRY_SERVER", endpoints.upstreamUrl());
        }
        env.put("SPLITSTREAM_ENTRY_TRANSPORT", spec.transport);
        if (!spec.entry.forwards.isEmpty()) {
            env.put("SPLITSTREAM_ENTRY_FORWARDS", String.join(",", spec.entry.forwards));
        }
        if (spec.entry.socks != null) {
            env.put("SPLITSTREAM_ENTRY_SOCKS", spec.entry.socks);
        }
        if (ExposeModel.isExpose(spec)) {
            env.put("SPLITSTREAM_ENTRY_EXPOSE", String.join(",", spec.expose.services));
            if (spec.expose.agent != null) {
                env.put("SPLITSTREAM_ENTRY_AGENT", spec.expose.agent);
            }
            if (ExposeModel.hasRouteToken(tunnel)) {
                routeToken.ifPresent(t -> env.put("SPLITSTREAM_ENTRY_ROUTE_TOKEN", t));
            }
            if (spec.expose.httpHosts != null) {
                env.put("SPLITSTREAM_ENTRY_HTTP_HOSTS", spec.expose.httpHosts);
            }
        }
        env.put("SPLITSTREAM_COMPRESSION", spec.compression);
        if (spec.encryption != null) {
            env.put("SPLITSTREAM_ENCRYPTION", spec.encryption);
        }
        if (spec.token.existingSecret != null) {
            env.put("SPLITSTREAM_TOKEN_ID", spec.token.id);
            env.put("SPLITSTREAM_TOKEN_FILE", Pods.tokenFile(spec.token, spec.token.id));
        } else {
            credentials.map(c -> Credentials.value(c, KEY_TOKEN_ID)).ifPresent(id -> {
                env.put("SPLITSTREAM_TOKEN_ID", id);
                env.put("SPLITSTREAM_TOKEN_FILE", Pods.tokenFile(spec.token, id));
            });
        }
        return env;
    }

    /**
     * Ports the entry Deployment serves to other pods: forwards and the SOCKS5 listener bound to a non-loopback
     * address (a listener on the default 127.0.0.1 serves only its own pod, as a sidecar does).
     */
    public static Map<String, Integer> servicePorts(Tunnel tunnel) {
        Map<String, Integer> ports = new LinkedHashMap<>();
        for (String forward : tunnel.getSpec().entry.forwards) {
            int eq = forward.indexOf('=');
            if (eq > 0) {
                listenPort(forward.substring(0, eq)).ifPresent(p -> ports.put("fwd-" + p, p));
            }
        }
        if (tunnel.getSpec().entry.socks != null) {
            listenPort(tunnel.getSpec().entry.socks).ifPresent(p -> ports.put("socks", p));
        }
        return ports;
    }

    /** Whether the Tunnel gets an entry Service: an entry Deployment with at least one port for other pods. */
    public static boolean hasService(Tunnel tunnel) {
        return hasDeployment(tunnel) && !servicePorts(tunnel).isEmpty();
    }

    public static Service service(Tunnel tunnel) {
        var spec = new ServiceSpecBuilder().withType("ClusterIP").withSelector(selector(tunnel, COMPONENT_ENTRY));
        servicePorts(tunnel).forEach((name, port) -> spec.addNewPort()
                .withName(name)
                .withPort(port)
                .withTargetPort(new IntOrString(port))
                .withProtocol("TCP")
                .endPort());
        return new ServiceBuilder()
                .withNewMetadata()
                .withName(entryName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_ENTRY))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withSpec(spec.build())
                .build();
    }

    private static Optional<Integer> listenPort(String bindPort) {
        int colon = bindPort.lastIndexOf(':');
        String bind = colon < 0 ? "127.0.0.1" : bindPort.substring(0, colon);
        if (bind.equals("localhost") || bind.startsWith("127.") || bind.equals("[::1]")) {
            return Optional.empty();
        }
        try {
            return Optional.of(Integer.parseInt(bindPort.substring(colon + 1)));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    public static Secret configSecret(Tunnel tunnel, Optional<Secret> credentials, Optional<String> routeToken) {
        return new SecretBuilder()
                .withNewMetadata()
                .withName(entryConfigSecretName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_ENTRY))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withType("Opaque")
                .withData(Credentials.encode(environment(tunnel, credentials, routeToken)))
                .build();
    }

    /** A digest of the entry environment: on the pod template, it rolls the pods when the token changes. */
    public static String digest(Map<String, String> environment) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            new TreeMap<>(environment).forEach((k, v) -> {
                sha.update(k.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update(v.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
            });
            return HexFormat.of().formatHex(sha.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is a required JDK algorithm", e);
        }
    }

    public static Deployment deployment(Tunnel tunnel, OperatorDefaults defaults, String configDigest) {
        TunnelSpec spec = tunnel.getSpec();
        String image = spec.entry.image != null ? spec.entry.image : defaults.entryImage();
        String pullPolicy =
                spec.entry.imagePullPolicy != null ? spec.entry.imagePullPolicy : defaults.imagePullPolicy();
        List<EnvVar> env = new ArrayList<>();
        // No QUARKUS_HTTP_PORT: the entry runs no HTTP server, only the management interface.
        env.addAll(Pods.managementEnv(MANAGEMENT_PORT));
        Map<String, String> podAnnotations = new LinkedHashMap<>(Pods.scrapeAnnotations());
        podAnnotations.put(ANNOTATION_CONFIG_DIGEST, configDigest);
        var container = new ContainerBuilder()
                .withName("entry")
                .withImage(image)
                .withImagePullPolicy(pullPolicy)
                .addToPorts(Pods.managementPort(MANAGEMENT_PORT))
                .addAllToPorts(servicePorts(tunnel).entrySet().stream()
                        .map(p -> new ContainerPortBuilder()
                                .withName(p.getKey())
                                .withContainerPort(p.getValue())
                                .withProtocol("TCP")
                                .build())
                        .toList())
                .addNewEnvFrom()
                .withNewSecretRef()
                .withName(entryConfigSecretName(tunnel))
                .endSecretRef()
                .endEnvFrom()
                .withEnv(env)
                .withResources(spec.entry.resources != null ? spec.entry.resources : DEFAULT_RESOURCES)
                .withLivenessProbe(Pods.liveness())
                .withReadinessProbe(Pods.readiness())
                .withSecurityContext(Pods.containerSecurityContext())
                .addNewVolumeMount()
                .withName("tmp")
                .withMountPath(TMP_PATH)
                .endVolumeMount()
                .addToVolumeMounts(Pods.tokenMount(TOKEN_VOLUME))
                .build();
        return new DeploymentBuilder()
                .withNewMetadata()
                .withName(entryName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_ENTRY))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withNewSpec()
                .withReplicas(spec.entry.replicas)
                .withNewSelector()
                .withMatchLabels(selector(tunnel, COMPONENT_ENTRY))
                .endSelector()
                .withNewTemplate()
                .withNewMetadata()
                .withLabels(labels(tunnel, COMPONENT_ENTRY))
                .withAnnotations(podAnnotations)
                .endMetadata()
                .withNewSpec()
                .withSecurityContext(Pods.podSecurityContext())
                .withAutomountServiceAccountToken(false)
                .withContainers(container)
                .addNewVolume()
                .withName("tmp")
                .withNewEmptyDir()
                .endEmptyDir()
                .endVolume()
                .addToVolumes(
                        Pods.tokenVolume(TOKEN_VOLUME, tunnel.getMetadata().getName(), spec.token))
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }
}
