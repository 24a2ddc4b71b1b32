package dev.splitstream.operator.model;

import dev.splitstream.operator.crd.v1alpha1.DomainsSpec;
import dev.splitstream.operator.crd.v1alpha1.ExposeSpec;
import dev.splitstream.operator.crd.v1alpha1.PublicPortsSpec;
import dev.splitstream.operator.crd.v1alpha1.StrictObject;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks what the CRD schema cannot (or what a cluster without schema validation let through) and says, per problem,
 * what to fix. An empty list means the spec can be reconciled.
 */
public final class SpecValidator {
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern PORT = Pattern.compile("[0-9]{1,5}");
    private static final Pattern IPV4_CIDR = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){3}(/[0-9]{1,2})?");
    private static final Set<String> MODES = Set.of(TunnelSpec.MODE_FORWARD, TunnelSpec.MODE_EXPOSE);
    private static final Set<String> TRANSPORTS = Set.of("websocket", "http", "auto");
    private static final Set<String> COMPRESSIONS = Set.of("off", "auto");
    private static final Set<String> ENCRYPTIONS = Set.of("on", "off");
    private static final Pattern LEASE = Pattern.compile("[0-9]{1,6}(ms|s|m|h)");
    private static final Set<String> SERVICE_TYPES = Set.of("ClusterIP", "NodePort", "LoadBalancer");
    private static final Set<String> PULL_POLICIES = Set.of("Always", "IfNotPresent", "Never");

    private SpecValidator() {}

    public static List<String> validate(Tunnel tunnel) {
        List<String> problems = new ArrayList<>();
        String name = tunnel.getMetadata().getName();
        if (name.length() > TunnelResources.MAX_TUNNEL_NAME_LENGTH) {
            problems.add("metadata.name '" + name + "' is longer than " + TunnelResources.MAX_TUNNEL_NAME_LENGTH
                    + " characters: the names derived from it would not be valid; use a shorter name");
        }
        TunnelSpec spec = tunnel.getSpec();
        if (spec == null) {
            problems.add("spec is missing: set at least spec.targets or spec.allow");
            return problems;
        }
        unknown("spec", spec, problems);
        unknown("spec.exit", spec.exit, problems);
        unknown("spec.entry", spec.entry, problems);
        unknown("spec.domains", spec.domains, problems);
        unknown("spec.ingress", spec.ingress, problems);
        unknown("spec.ingress.tls", spec.ingress == null ? null : spec.ingress.tls, problems);
        unknown("spec.token", spec.token, problems);
        unknown("spec.expose", spec.expose, problems);
        unknown("spec.expose.publicPorts", spec.expose == null ? null : spec.expose.publicPorts, problems);
        unknown("spec.registry", spec.registry, problems);
        unknown("spec.exit.dashboard", spec.exit == null ? null : spec.exit.dashboard, problems);

        oneOf("spec.mode", spec.mode, MODES, problems);
        oneOf("spec.transport", spec.transport, TRANSPORTS, problems);
        oneOf("spec.compression", spec.compression, COMPRESSIONS, problems);
        oneOf("spec.encryption", spec.encryption, ENCRYPTIONS, problems);
        if (spec.exit != null) {
            oneOf("spec.exit.serviceType", spec.exit.serviceType, SERVICE_TYPES, problems);
            oneOf("spec.exit.imagePullPolicy", spec.exit.imagePullPolicy, PULL_POLICIES, problems);
            notNegative("spec.exit.replicas", spec.exit.replicas, problems);
        }
        if (spec.entry != null) {
            oneOf("spec.entry.imagePullPolicy", spec.entry.imagePullPolicy, PULL_POLICIES, problems);
            notNegative("spec.entry.replicas", spec.entry.replicas, problems);
            for (int i = 0; i < spec.entry.forwards.size(); i++) {
                forward("spec.entry.forwards[" + i + "]", spec.entry.forwards.get(i), problems);
            }
            if (spec.entry.socks != null && !bindPort(spec.entry.socks)) {
                problems.add(
                        "spec.entry.socks '" + spec.entry.socks + "' is not [bind:]port, e.g. 1080 or 0.0.0.0:1080");
            }
        }
        for (int i = 0; i < spec.targets.size(); i++) {
            target("spec.targets[" + i + "]", spec.targets.get(i), false, problems);
        }
        for (int i = 0; i < spec.allow.size(); i++) {
            target("spec.allow[" + i + "]", spec.allow.get(i), true, problems);
        }
        expose(spec, problems);
        registry(spec, problems);
        if (spec.exit != null && spec.exit.dashboard != null) {
            secretName("spec.exit.dashboard.secretName", spec.exit.dashboard.secretName, true, problems);
        }
        domains(spec.domains, spec, problems);
        if (spec.token != null && spec.token.existingSecret != null && !dnsSubdomain(spec.token.existingSecret)) {
            problems.add("spec.token.existingSecret '" + spec.token.existingSecret + "' is not a valid Secret name");
        }
        return problems;
    }

    private static void expose(TunnelSpec spec, List<String> problems) {
        boolean exposeMode = TunnelSpec.MODE_EXPOSE.equals(spec.mode);
        ExposeSpec expose = spec.expose;
        if (!exposeMode) {
            if (expose != null) {
                problems.add("spec.expose is set but spec.mode is '" + spec.mode + "': set spec.mode: expose, or "
                        + "remove spec.expose");
            }
            return;
        }
        if (!spec.targets.isEmpty()) {
            problems.add("spec.targets is for forward mode: in expose mode list the services in "
                    + "spec.expose.services as name=host:port or name=http://host:port, e.g. web=http://"
                    + spec.targets.get(0));
        }
        if (expose == null || expose.services.isEmpty()) {
            problems.add("spec.expose.services is empty: expose mode needs at least one service, e.g. "
                    + "ssh=ssh.shop.svc:22 or web=http://web.shop.svc:8080");
            return;
        }
        if (expose.services.size() > ExposeSpec.MAX_SERVICES) {
            problems.add("spec.expose.services has " + expose.services.size() + " entries: at most "
                    + ExposeSpec.MAX_SERVICES);
        }
        PublicPortsSpec ports = expose.publicPorts;
        Integer first = ports == null ? null : ports.first;
        Integer count = ports == null ? null : ports.count;
        boolean rangeOk = false;
        if (ports != null) {
            oneOf("spec.expose.publicPorts.serviceType", ports.serviceType, SERVICE_TYPES, problems);
            if (first == null) {
                problems.add("spec.expose.publicPorts.first is not set: the first public port, e.g. 10000");
            } else if (first < 1024 || first > 65535) {
                problems.add("spec.expose.publicPorts.first is " + first + ": use 1024 to 65535");
            } else if (count == null || count < 1 || count > PublicPortsSpec.MAX_COUNT) {
                problems.add("spec.expose.publicPorts.count is " + count + ": use 1 to " + PublicPortsSpec.MAX_COUNT
                        + " (a Kubernetes Service lists every port)");
            } else if (first + count - 1 > 65535) {
                problems.add("spec.expose.publicPorts " + first + " + " + count + " ports ends beyond 65535: "
                        + "lower first or count");
            } else {
                rangeOk = true;
            }
        }
        Set<String> names = new java.util.HashSet<>();
        int tcp = 0;
        boolean http = false;
        for (int i = 0; i < expose.services.size(); i++) {
            String path = "spec.expose.services[" + i + "] '" + expose.services.get(i) + "'";
            ExposeModel.ExposedService service;
            try {
                service = ExposeModel.parse(expose.services.get(i));
            } catch (IllegalArgumentException e) {
                problems.add(path + " " + e.getMessage());
                continue;
            }
            if (!names.add(service.name())) {
                problems.add(path + ": the name '" + service.name() + "' is used twice; names must be unique");
            }
            if (service.http()) {
                http = true;
                continue;
            }
            tcp++;
            if (ports == null) {
                problems.add(path + " is a TCP service but spec.expose.publicPorts is not set: set "
                        + "spec.expose.publicPorts.first (and count) for the exit's public ports");
            } else if (rangeOk
                    && service.publicPort().isPresent()
                    && (service.publicPort().get() < first
                            || service.publicPort().get() > first + count - 1)) {
                problems.add(
                        path + " asks for public port " + service.publicPort().get()
                                + ", outside spec.expose.publicPorts " + ExposeModel.publicPortRange(ports)
                                + ": the Service publishes only that range");
            }
        }
        if (rangeOk && tcp > count) {
            problems.add("spec.expose.services has " + tcp + " TCP services but spec.expose.publicPorts has " + count
                    + " ports: raise count");
        }
        boolean hostRoutes = expose.httpDomain != null && !expose.httpDomain.isBlank();
        if (http && !hostRoutes && Boolean.FALSE.equals(expose.routeToken) && !Boolean.TRUE.equals(expose.hub)) {
            problems.add("spec.expose.services has HTTP services but nothing reaches them: set "
                    + "spec.expose.httpDomain, spec.expose.routeToken: true or spec.expose.hub: true");
        }
        if (hostRoutes && !dnsSubdomain(expose.httpDomain.trim())) {
            problems.add("spec.expose.httpDomain '" + expose.httpDomain + "' is not a valid domain (lower-case DNS "
                    + "name without '*.', e.g. apps.example.com: services are reached at <name>.apps.example.com)");
        }
        if (expose.httpTlsSecretName != null && !hostRoutes) {
            problems.add("spec.expose.httpTlsSecretName is set but spec.expose.httpDomain is not: TLS needs a domain");
        }
        secretName("spec.expose.httpTlsSecretName", expose.httpTlsSecretName, false, problems);
        if (expose.httpHosts != null) {
            try {
                java.util.regex.Pattern.compile(expose.httpHosts);
            } catch (java.util.regex.PatternSyntaxException e) {
                problems.add("spec.expose.httpHosts is not a valid regular expression: " + e.getDescription());
            }
        }
        if (expose.lease != null && !LEASE.matcher(expose.lease).matches()) {
            problems.add("spec.expose.lease '" + expose.lease + "' is not a duration like 90s, 10m or 1h");
        }
        if (expose.agent != null && !DNS_LABEL.matcher(expose.agent).matches()) {
            problems.add("spec.expose.agent '" + expose.agent + "' is not a lower-case DNS label, e.g. shop");
        }
    }

    private static void registry(TunnelSpec spec, List<String> problems) {
        if (spec.registry != null) {
            secretName("spec.registry.secretName", spec.registry.secretName, true, problems);
            return;
        }
        if (spec.exit != null && spec.exit.replicas != null && spec.exit.replicas > 1) {
            problems.add("spec.exit.replicas is " + spec.exit.replicas + " but spec.registry is not set: replicas "
                    + "share sessions, agents and leases through PostgreSQL; set spec.registry.secretName to a "
                    + "Secret with the keys jdbc-url, username and password, or use spec.exit.replicas: 1");
        }
    }

    private static void secretName(String path, String name, boolean required, List<String> problems) {
        if (name == null || name.isBlank()) {
            if (required) {
                problems.add(path + " is not set: name a Secret in the Tunnel's namespace");
            }
        } else if (!dnsSubdomain(name)) {
            problems.add(path + " '" + name + "' is not a valid Secret name");
        }
    }

    private static void domains(DomainsSpec domains, TunnelSpec spec, List<String> problems) {
        String up = domains == null ? null : blankToNull(domains.upstream);
        String down = domains == null ? null : blankToNull(domains.downstream);
        if (up != null && !dnsSubdomain(up)) {
            problems.add("spec.domains.upstream '" + up + "' is not a valid host name (lower-case DNS name, "
                    + "no scheme, port or path, e.g. up.example.com)");
        }
        if (down != null && !dnsSubdomain(down)) {
            problems.add("spec.domains.downstream '" + down + "' is not a valid host name (lower-case DNS name, "
                    + "no scheme, port or path, e.g. down.example.com)");
        }
        if (down != null && up == null) {
            problems.add("spec.domains.downstream is set but spec.domains.upstream is not: a split tunnel needs "
                    + "both; for one domain set only spec.domains.upstream");
        }
        boolean split = up != null && down != null && !up.equals(down);
        String downSecret =
                spec.ingress == null || spec.ingress.tls == null ? null : spec.ingress.tls.downstreamSecretName;
        if (downSecret != null && !split) {
            problems.add("spec.ingress.tls.downstreamSecretName is set but the tunnel is not split: use "
                    + "spec.ingress.tls.upstreamSecretName, or set a different spec.domains.downstream");
        }
        String upSecret = spec.ingress == null || spec.ingress.tls == null ? null : spec.ingress.tls.upstreamSecretName;
        if (upSecret != null && up == null) {
            problems.add("spec.ingress.tls.upstreamSecretName is set but spec.domains.upstream is not: "
                    + "TLS needs a domain");
        }
    }

    private static void unknown(String path, StrictObject object, List<String> problems) {
        if (object == null) {
            return;
        }
        for (String field : object.unknownFields()) {
            problems.add("unknown field " + path + "." + field + ": remove it or correct its spelling "
                    + "(see `kubectl explain tunnel." + path + "`)");
        }
    }

    private static void oneOf(String path, String value, Set<String> allowed, List<String> problems) {
        if (value != null && !allowed.contains(value)) {
            problems.add(path + " '" + value + "' is not one of "
                    + allowed.stream().sorted().toList());
        }
    }

    private static void notNegative(String path, Integer value, List<String> problems) {
        if (value != null && value < 0) {
            problems.add(path + " is " + value + ": use 0 or more");
        }
    }

    private static void forward(String path, String forward, List<String> problems) {
        int eq = forward.indexOf('=');
        if (eq < 0 || !bindPort(forward.substring(0, eq)) || !hostPort(forward.substring(eq + 1), false)) {
            problems.add(path + " '" + forward + "' is not [bind:]localport=host:port, e.g. 5432=db.prod.svc:5432");
        }
    }

    private static void target(String path, String target, boolean wildcards, List<String> problems) {
        if (!hostPort(target, wildcards)) {
            problems.add(path + " '" + target + "' is not "
                    + (wildcards ? "host:port, host:*, cidr:port or cidr:*" : "host:port") + ", e.g. db.prod.svc:5432");
        }
    }

    static boolean hostPort(String value, boolean wildcards) {
        int colon = value.lastIndexOf(':');
        if (colon <= 0) {
            return false;
        }
        String host = value.substring(0, colon);
        String port = value.substring(colon + 1);
        boolean portOk = (wildcards && port.equals("*")) || validPort(port);
        if (host.startsWith("[") && host.endsWith("]")) {
            return portOk && host.length() > 2;
        }
        boolean hostOk =
                dnsSubdomain(host) || (wildcards && IPV4_CIDR.matcher(host).matches());
        return portOk && hostOk;
    }

    static boolean bindPort(String value) {
        int colon = value.lastIndexOf(':');
        String port = colon < 0 ? value : value.substring(colon + 1);
        String bind = colon < 0 ? null : value.substring(0, colon);
        return validPort(port) && (bind == null || dnsSubdomain(bind) || (bind.startsWith("[") && bind.endsWith("]")));
    }

    private static boolean validPort(String port) {
        if (!PORT.matcher(port).matches()) {
            return false;
        }
        int p = Integer.parseInt(port);
        return p >= 1 && p <= 65535;
    }

    /** RFC 1123 subdomain: lower-case labels of at most 63 characters, at most 253 in all (IPv4 literals pass). */
    static boolean dnsSubdomain(String host) {
        if (host.isEmpty() || host.length() > 253) {
            return false;
        }
        for (String label : host.split("\\.", -1)) {
            if (!DNS_LABEL.matcher(label).matches()) {
                return false;
            }
        }
        return true;
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value.trim();
    }
}
