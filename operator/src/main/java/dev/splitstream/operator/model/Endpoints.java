package dev.splitstream.operator.model;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import java.util.Optional;

/**
 * Where entry nodes reach a Tunnel's exit node: the upstream and downstream base URLs (equal unless split). The
 * entry appends the endpoint paths itself.
 *
 * @param upstreamHost public host of the upstream half, empty without domains
 * @param downstreamHost public host of the downstream half, empty without domains
 * @param upstreamUrl base URL of the upstream half
 * @param downstreamUrl base URL of the downstream half
 */
public record Endpoints(
        Optional<String> upstreamHost, Optional<String> downstreamHost, String upstreamUrl, String downstreamUrl) {

    public static Endpoints of(Tunnel tunnel) {
        TunnelSpec spec = tunnel.getSpec();
        Optional<String> up = nonBlank(spec.domains == null ? null : spec.domains.upstream);
        Optional<String> down =
                nonBlank(spec.domains == null ? null : spec.domains.downstream).or(() -> up);
        boolean http = "http".equals(spec.transport);
        if (up.isEmpty()) {
            String url = (http ? "http://" : "ws://") + TunnelResources.exitServiceHost(tunnel) + ":"
                    + TunnelResources.EXIT_PORT;
            return new Endpoints(up, down, url, url);
        }
        String upSecret = spec.ingress == null || spec.ingress.tls == null ? null : spec.ingress.tls.upstreamSecretName;
        String downSecret = spec.ingress == null || spec.ingress.tls == null
                ? null
                : (down.equals(up) ? upSecret : spec.ingress.tls.downstreamSecretName);
        return new Endpoints(up, down, url(up.get(), upSecret, http), url(down.get(), downSecret, http));
    }

    /** Whether the two halves travel through different hosts. */
    public boolean split() {
        return !upstreamHost.equals(downstreamHost);
    }

    private static String url(String host, String tlsSecret, boolean http) {
        boolean tls = tlsSecret != null && !tlsSecret.isBlank();
        return (http ? (tls ? "https://" : "http://") : (tls ? "wss://" : "ws://")) + host;
    }

    private static Optional<String> nonBlank(String value) {
        return Optional.ofNullable(value).map(String::trim).filter(v -> !v.isEmpty());
    }
}
