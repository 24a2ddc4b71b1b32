package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressBuilder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** Desired state of the Ingress objects: one per distinct domain. */
public final class IngressModel {
    private static final String NGINX = "nginx.ingress.kubernetes.io/";

    private IngressModel() {}

    /** Whether the Tunnel needs an upstream Ingress (it has a domain). */
    public static boolean hasUpstream(Tunnel tunnel) {
        return Endpoints.of(tunnel).upstreamHost().isPresent();
    }

    /** Whether the Tunnel needs a second, downstream Ingress (its domains differ). */
    public static boolean hasDownstream(Tunnel tunnel) {
        Endpoints endpoints = Endpoints.of(tunnel);
        return endpoints.upstreamHost().isPresent() && endpoints.split();
    }

    /**
     * The ingress-nginx annotations a tunnel needs: long-lived WebSocket and streaming connections (no buffering,
     * hour-long timeouts, no body limit for HTTP batches) and hashing on the session header, so both halves of a
     * split session and every reconnect reach the replica holding the session. User annotations override them.
     */
    public static Map<String, String> annotations(TunnelSpec spec) {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(NGINX + "proxy-read-timeout", "3600");
        annotations.put(NGINX + "proxy-send-timeout", "3600");
        annotations.put(NGINX + "proxy-buffering", "off");
        annotations.put(NGINX + "proxy-request-buffering", "off");
        annotations.put(NGINX + "proxy-body-size", "0");
        annotations.put(NGINX + "upstream-hash-by", SESSION_HASH_KEY);
        if (spec.ingress != null && spec.ingress.annotations != null) {
            annotations.putAll(spec.ingress.annotations);
        }
        return annotations;
    }

    public static Ingress upstream(Tunnel tunnel) {
        Endpoints endpoints = Endpoints.of(tunnel);
        String secret = tunnel.getSpec().ingress.tls.upstreamSecretName;
        return ingress(
                tunnel,
                upstreamIngressName(tunnel),
                endpoints.upstreamHost().orElseThrow(),
                Optional.ofNullable(secret),
                endpoints.split() ? "upstream" : "both");
    }

    public static Ingress downstream(Tunnel tunnel) {
        Endpoints endpoints = Endpoints.of(tunnel);
        String secret = tunnel.getSpec().ingress.tls.downstreamSecretName;
        return ingress(
                tunnel,
                downstreamIngressName(tunnel),
                endpoints.downstreamHost().orElseThrow(),
                Optional.ofNullable(secret),
                "downstream");
    }

    private static Ingress ingress(Tunnel tunnel, String name, String host, Optional<String> tlsSecret, String leg) {
        Map<String, String> labels = labels(tunnel, COMPONENT_INGRESS);
        labels.put("splitstream.dev/leg", leg);
        var builder = new IngressBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels)
                .withAnnotations(annotations(tunnel.getSpec()))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withNewSpec()
                .withIngressClassName(tunnel.getSpec().ingress.className)
                .addNewRule()
                .withHost(host)
                .withNewHttp()
                .addNewPath()
                .withPath("/")
                .withPathType("Prefix")
                .withNewBackend()
                .withNewService()
                .withName(exitName(tunnel))
                .withNewPort()
                .withName(PORT_NAME)
                .endPort()
                .endService()
                .endBackend()
                .endPath()
                .endHttp()
                .endRule();
        tlsSecret.filter(s -> !s.isBlank()).ifPresent(secret -> builder.addNewTl()
                .addToHosts(host)
                .withSecretName(secret)
                .endTl());
        return builder.endSpec().build();
    }
}
