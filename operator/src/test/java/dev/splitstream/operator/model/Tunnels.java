package dev.splitstream.operator.model;

import dev.splitstream.operator.crd.v1alpha1.ExposeSpec;
import dev.splitstream.operator.crd.v1alpha1.PublicPortsSpec;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import java.util.List;
import java.util.UUID;

/** Tunnels for tests. */
public final class Tunnels {
    private Tunnels() {}

    /** A forward tunnel to db:5432 with no domains, as the API server would hand it over (uid set). */
    public static Tunnel forward(String name, String namespace) {
        Tunnel tunnel = new Tunnel();
        tunnel.setMetadata(new ObjectMetaBuilder()
                .withName(name)
                .withNamespace(namespace)
                .withUid(UUID.randomUUID().toString())
                .withGeneration(1L)
                .build());
        tunnel.getSpec().targets = List.of("db.prod.svc:5432");
        tunnel.getSpec().entry.forwards = List.of("5432=db.prod.svc:5432");
        return tunnel;
    }

    /**
     * The tunnel turned into an expose tunnel: a TCP and an HTTP service, public ports 10000-10009, host routes under
     * apps.example.com.
     */
    public static Tunnel expose(Tunnel tunnel) {
        tunnel.getSpec().mode = "expose";
        tunnel.getSpec().targets = List.of();
        tunnel.getSpec().expose = new ExposeSpec();
        tunnel.getSpec().expose.services = List.of("ssh=ssh.shop.svc:22", "web=http://web.shop.svc:8080");
        tunnel.getSpec().expose.publicPorts = new PublicPortsSpec();
        tunnel.getSpec().expose.publicPorts.first = 10000;
        tunnel.getSpec().expose.httpDomain = "apps.example.com";
        return tunnel;
    }

    /** A split tunnel: upstream and downstream through different domains, TLS on both. */
    public static Tunnel split(String name, String namespace) {
        Tunnel tunnel = forward(name, namespace);
        tunnel.getSpec().domains.upstream = "up.example.com";
        tunnel.getSpec().domains.downstream = "down.example.net";
        tunnel.getSpec().ingress.className = "nginx";
        tunnel.getSpec().ingress.tls.upstreamSecretName = "up-tls";
        tunnel.getSpec().ingress.tls.downstreamSecretName = "down-tls";
        return tunnel;
    }
}
