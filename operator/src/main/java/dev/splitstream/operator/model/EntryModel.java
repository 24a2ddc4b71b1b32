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

    private EntryModel() {}

    /** Whether the Tunnel runs an entry Deployment (not only sidecar configuration). */
    public static boolean hasDeployment(Tunnel tunnel) {
        return !Boolean.TRUE.equals(tunnel.getSpec().entry.sidecarOnly);
    }

    /**
     * The entry node's environment. {@code credentials} is the generated credentials Secret; with an existing token
     * Secret the token is not copied (the pod refers to that Secret instead).
     */
    public static Map<String, String> environment(Tunnel tunnel, Optional<Secret> credentials) {
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
        if (TunnelSpec.MODE_EXPOSE.equals(spec.mode)) {
            env.put("SPLITSTREAM_ENTRY_EXPOSE", String.join(",", spec.targets));
        }
        env.put("SPLITSTREAM_COMPRESSION", spec.compression);
        credentials.ifPresent(secret -> {
            Map<String, String> values = Credentials.decode(secret);
            if (spec.token.existingSecret == null) {
                putIfPresent(env, "SPLITSTREAM_TOKEN_ID", values.get(KEY_TOKEN_ID));
                putIfPresent(env, "SPLITSTREAM_TOKEN", values.get(KEY_TOKEN));
            }
            putIfPresent(env, "SPLITSTREAM_HMAC_KEY", values.get(KEY_HMAC_KEY));
        });
        if (spec.token.existingSecret != null) {
            env.put("SPLITSTREAM_TOKEN_ID", spec.token.id);
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

    public static Secret configSecret(Tunnel tunnel, Optional<Secret> credentials) {
        return new SecretBuilder()
                .withNewMetadata()
                .withName(entryConfigSecretName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_ENTRY))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withType("Opaque")
                .withData(Credentials.encode(environment(tunnel, credentials)))
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
        env.add(new EnvVar("QUARKUS_HTTP_PORT", Integer.toString(ENTRY_PORT), null));
        if (spec.token.existingSecret != null) {
            env.add(ExitModel.secretEnv("SPLITSTREAM_TOKEN", spec.token.existingSecret, spec.token.existingSecretKey));
        }
        Map<String, String> podAnnotations = new LinkedHashMap<>();
        podAnnotations.put("prometheus.io/scrape", "true");
        podAnnotations.put("prometheus.io/path", "/q/metrics");
        podAnnotations.put("prometheus.io/port", Integer.toString(ENTRY_PORT));
        podAnnotations.put(ANNOTATION_CONFIG_DIGEST, configDigest);
        var container = new ContainerBuilder()
                .withName("entry")
                .withImage(image)
                .withImagePullPolicy(pullPolicy)
                .addNewPort()
                .withName(PORT_NAME)
                .withContainerPort(ENTRY_PORT)
                .withProtocol("TCP")
                .endPort()
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
                .withNewLivenessProbe()
                .withNewHttpGet()
                .withPath("/q/health/live")
                .withPort(new IntOrString(PORT_NAME))
                .endHttpGet()
                .withInitialDelaySeconds(5)
                .withPeriodSeconds(10)
                .endLivenessProbe()
                .withNewReadinessProbe()
                .withNewHttpGet()
                .withPath("/q/health/ready")
                .withPort(new IntOrString(PORT_NAME))
                .endHttpGet()
                .withInitialDelaySeconds(2)
                .withPeriodSeconds(5)
                .endReadinessProbe()
                .withSecurityContext(Pods.containerSecurityContext())
                .addNewVolumeMount()
                .withName("tmp")
                .withMountPath(TMP_PATH)
                .endVolumeMount()
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
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }

    private static void putIfPresent(Map<String, String> env, String key, String value) {
        if (value != null) {
            env.put(key, value);
        }
    }
}
