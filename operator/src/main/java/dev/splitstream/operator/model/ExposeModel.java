package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import dev.splitstream.operator.crd.v1alpha1.PublicPortsSpec;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServiceSpecBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Desired state of expose mode: what the agent (entry node) announces, the exit's public-port Service and the Ingress
 * of its host routes, and which generated tokens the tunnel needs.
 */
public final class ExposeModel {
    /** {@code name[:PORT]=target}, target {@code host:port} or {@code http(s)://host:port}. */
    private static final Pattern SERVICE =
            Pattern.compile("([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(:([0-9]{1,5}))?=((https?)://)?(.+)");

    private static final String NGINX = "nginx.ingress.kubernetes.io/";

    /**
     * One exposed service.
     *
     * @param name the service's name (a DNS label: it is also the host route's first label)
     * @param publicPort the public port asked for, if any (TCP services)
     * @param scheme {@code http} or {@code https} for an HTTP service, empty for TCP
     * @param target {@code host:port} next to the agent
     */
    public record ExposedService(String name, Optional<Integer> publicPort, Optional<String> scheme, String target) {
        public boolean http() {
            return scheme.isPresent();
        }
    }

    private ExposeModel() {}

    /** Parses one entry of {@code spec.expose.services}; the message says what the entry should look like. */
    public static ExposedService parse(String service) {
        Matcher m = SERVICE.matcher(service);
        if (!m.matches()) {
            throw new IllegalArgumentException("is not name=host:port, name:PORT=host:port or name=http(s)://host:port "
                    + "(name: a lower-case DNS label), e.g. ssh=ssh.shop.svc:22 or web=http://web.shop.svc:8080");
        }
        String target = m.group(7);
        if (!SpecValidator.hostPort(target, false)) {
            throw new IllegalArgumentException("target '" + target + "' is not host:port, e.g. web.shop.svc:8080");
        }
        Optional<Integer> port = Optional.ofNullable(m.group(4)).map(Integer::parseInt);
        if (port.isPresent() && (port.get() < 1 || port.get() > 65535)) {
            throw new IllegalArgumentException("public port " + port.get() + " is not between 1 and 65535");
        }
        Optional<String> scheme = Optional.ofNullable(m.group(6));
        if (port.isPresent() && scheme.isPresent()) {
            throw new IllegalArgumentException("an HTTP service has no public port: drop ':" + port.get() + "'");
        }
        return new ExposedService(m.group(1), port, scheme, target);
    }

    /** The services of an expose tunnel; entries that do not parse are left out (the validator reports them). */
    public static List<ExposedService> services(TunnelSpec spec) {
        List<ExposedService> services = new ArrayList<>();
        if (!isExpose(spec)) {
            return services;
        }
        for (String service : spec.expose.services) {
            try {
                services.add(parse(service));
            } catch (IllegalArgumentException e) {
                // reported by SpecValidator
            }
        }
        return services;
    }

    public static boolean isExpose(TunnelSpec spec) {
        return TunnelSpec.MODE_EXPOSE.equals(spec.mode) && spec.expose != null;
    }

    /** Whether the exit publishes public TCP ports (and the Service for them). */
    public static boolean hasPublicPorts(Tunnel tunnel) {
        TunnelSpec spec = tunnel.getSpec();
        return isExpose(spec) && spec.expose.publicPorts != null && spec.expose.publicPorts.first != null;
    }

    /** The exit's SPLITSTREAM_EXIT_PUBLIC_PORTS, {@code first-last}. */
    public static String publicPortRange(PublicPortsSpec ports) {
        return ports.first + "-" + (ports.first + ports.count - 1);
    }

    /** Whether the tunnel has host routes (an Ingress for {@code *.<httpDomain>}). */
    public static boolean hasHostRoutes(Tunnel tunnel) {
        TunnelSpec spec = tunnel.getSpec();
        return isExpose(spec) && spec.expose.httpDomain != null && !spec.expose.httpDomain.isBlank();
    }

    /** Whether the agent gets a generated route token: route tokens on and at least one HTTP service. */
    public static boolean hasRouteToken(Tunnel tunnel) {
        TunnelSpec spec = tunnel.getSpec();
        return isExpose(spec)
                && !Boolean.FALSE.equals(spec.expose.routeToken)
                && services(spec).stream().anyMatch(ExposedService::http);
    }

    /** Whether the exit's Hub API is on (with a generated bearer token). */
    public static boolean hasHub(Tunnel tunnel) {
        TunnelSpec spec = tunnel.getSpec();
        return isExpose(spec) && Boolean.TRUE.equals(spec.expose.hub);
    }

    /** The Service publishing every port of the range, each to the same port of the exit pods. */
    public static Service publicPortsService(Tunnel tunnel) {
        PublicPortsSpec ports = tunnel.getSpec().expose.publicPorts;
        var spec = new ServiceSpecBuilder().withType(ports.serviceType).withSelector(selector(tunnel, COMPONENT_EXIT));
        for (int port = ports.first; port < ports.first + ports.count; port++) {
            spec.addNewPort()
                    .withName("p-" + port)
                    .withPort(port)
                    .withTargetPort(new IntOrString(port))
                    .withProtocol("TCP")
                    .endPort();
        }
        return new ServiceBuilder()
                .withNewMetadata()
                .withName(exitPortsServiceName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_EXIT))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withSpec(spec.build())
                .build();
    }

    /**
     * The ingress-nginx annotations of the host-route Ingress: streamed bodies both ways, long-lived WebSocket and
     * server-sent-event responses, no body size limit. No session hashing: route requests carry no session header.
     * User annotations override them.
     */
    public static Map<String, String> routeAnnotations(TunnelSpec spec) {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(NGINX + "proxy-read-timeout", "3600");
        annotations.put(NGINX + "proxy-send-timeout", "3600");
        annotations.put(NGINX + "proxy-buffering", "off");
        annotations.put(NGINX + "proxy-request-buffering", "off");
        annotations.put(NGINX + "proxy-body-size", "0");
        if (spec.ingress != null && spec.ingress.annotations != null) {
            annotations.putAll(spec.ingress.annotations);
        }
        return annotations;
    }

    /** The Ingress of the host routes: the wildcard host {@code *.<httpDomain>} to the exit's HTTP port. */
    public static Ingress routesIngress(Tunnel tunnel) {
        TunnelSpec spec = tunnel.getSpec();
        String host = "*." + spec.expose.httpDomain.trim();
        Map<String, String> labels = labels(tunnel, COMPONENT_INGRESS);
        labels.put("splitstream.dev/leg", "routes");
        var builder = new IngressBuilder()
                .withNewMetadata()
                .withName(routesIngressName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels)
                .withAnnotations(routeAnnotations(spec))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withNewSpec()
                .withIngressClassName(spec.ingress == null ? null : spec.ingress.className)
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
        String tls = spec.expose.httpTlsSecretName;
        if (tls != null && !tls.isBlank()) {
            builder.addNewTl().addToHosts(host).withSecretName(tls).endTl();
        }
        return builder.endSpec().build();
    }
}
