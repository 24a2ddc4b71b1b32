package dev.splitstream.operator.model;

import dev.splitstream.operator.crd.v1alpha1.DashboardSpec;
import dev.splitstream.operator.crd.v1alpha1.DomainsSpec;
import dev.splitstream.operator.crd.v1alpha1.EntrySpec;
import dev.splitstream.operator.crd.v1alpha1.ExitSpec;
import dev.splitstream.operator.crd.v1alpha1.ExposeSpec;
import dev.splitstream.operator.crd.v1alpha1.IngressSpec;
import dev.splitstream.operator.crd.v1alpha1.PublicPortsSpec;
import dev.splitstream.operator.crd.v1alpha1.RegistrySpec;
import dev.splitstream.operator.crd.v1alpha1.TlsSpec;
import dev.splitstream.operator.crd.v1alpha1.TokenSpec;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;

/**
 * Fills what a Tunnel left out (or set to null explicitly) with the schema defaults, so the builders never meet a
 * null. The API server applies the same defaults from the CRD, but explicit nulls and servers without defaulting
 * (the tests' mock) get through.
 */
public final class SpecDefaults {
    private SpecDefaults() {}

    public static Tunnel apply(Tunnel tunnel) {
        if (tunnel.getSpec() == null) {
            tunnel.setSpec(new TunnelSpec());
        }
        TunnelSpec spec = tunnel.getSpec();
        TunnelSpec defaults = new TunnelSpec();
        spec.mode = or(spec.mode, defaults.mode);
        spec.transport = or(spec.transport, defaults.transport);
        spec.compression = or(spec.compression, defaults.compression);
        spec.targets = spec.targets == null ? new ArrayList<>() : spec.targets;
        spec.allow = spec.allow == null ? new ArrayList<>() : spec.allow;

        spec.exit = or(spec.exit, new ExitSpec());
        ExitSpec exit = new ExitSpec();
        spec.exit.replicas = or(spec.exit.replicas, exit.replicas);
        spec.exit.serviceType = or(spec.exit.serviceType, exit.serviceType);

        spec.entry = or(spec.entry, new EntrySpec());
        EntrySpec entry = new EntrySpec();
        spec.entry.replicas = or(spec.entry.replicas, entry.replicas);
        spec.entry.sidecarOnly = or(spec.entry.sidecarOnly, entry.sidecarOnly);
        spec.entry.forwards = spec.entry.forwards == null ? new ArrayList<>() : spec.entry.forwards;

        spec.domains = or(spec.domains, new DomainsSpec());
        spec.ingress = or(spec.ingress, new IngressSpec());
        spec.ingress.annotations = spec.ingress.annotations == null ? new LinkedHashMap<>() : spec.ingress.annotations;
        spec.ingress.tls = or(spec.ingress.tls, new TlsSpec());

        if (spec.exit.dashboard != null) {
            DashboardSpec dashboard = new DashboardSpec();
            spec.exit.dashboard.userKey = or(spec.exit.dashboard.userKey, dashboard.userKey);
            spec.exit.dashboard.passwordKey = or(spec.exit.dashboard.passwordKey, dashboard.passwordKey);
        }
        if (spec.expose != null) {
            ExposeSpec expose = new ExposeSpec();
            spec.expose.services = spec.expose.services == null ? new ArrayList<>() : spec.expose.services;
            spec.expose.routeToken = or(spec.expose.routeToken, expose.routeToken);
            spec.expose.hub = or(spec.expose.hub, expose.hub);
            if (spec.expose.publicPorts != null) {
                PublicPortsSpec ports = new PublicPortsSpec();
                spec.expose.publicPorts.count = or(spec.expose.publicPorts.count, ports.count);
                spec.expose.publicPorts.serviceType = or(spec.expose.publicPorts.serviceType, ports.serviceType);
            }
        }
        if (spec.registry != null) {
            RegistrySpec registry = new RegistrySpec();
            spec.registry.jdbcUrlKey = or(spec.registry.jdbcUrlKey, registry.jdbcUrlKey);
            spec.registry.usernameKey = or(spec.registry.usernameKey, registry.usernameKey);
            spec.registry.passwordKey = or(spec.registry.passwordKey, registry.passwordKey);
        }

        spec.token = or(spec.token, new TokenSpec());
        TokenSpec token = new TokenSpec();
        spec.token.existingSecretKey = or(spec.token.existingSecretKey, token.existingSecretKey);
        spec.token.id = or(spec.token.id, token.id);
        spec.token.rotationGraceSeconds = or(spec.token.rotationGraceSeconds, token.rotationGraceSeconds);
        return tunnel;
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
