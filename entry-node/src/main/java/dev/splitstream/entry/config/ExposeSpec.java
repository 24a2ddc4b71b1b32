package dev.splitstream.entry.config;

import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One service an agent exposes: {@code name=host:port} (TCP, any public port), {@code name:PORT=host:port} (TCP, public
 * port PORT), {@code name=http://host:port} or {@code name=https://host:port} (an HTTP service).
 *
 * @param name service name (a DNS label)
 * @param kind TCP or HTTP
 * @param requestedPort public port asked for, 0 for any
 * @param tls for an HTTP service: the agent speaks TLS to it
 * @param target what the agent connects to
 */
public record ExposeSpec(String name, Frame.ServiceKind kind, int requestedPort, boolean tls, HostPort target) {

    static final String SYNTAX = "name=host:port, name:PORT=host:port, name=http://host:port or name=https://host:port";

    /** The target as announced: {@code host:port}, or with its scheme for an HTTP service. */
    public String display() {
        return kind == Frame.ServiceKind.HTTP ? (tls ? "https://" : "http://") + target : target.toString();
    }

    /** Parses a comma list; blank entries are skipped; names must be distinct. */
    static List<ExposeSpec> parseList(String key, String text) {
        List<ExposeSpec> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (String item : text.split(",")) {
            if (item.isBlank()) {
                continue;
            }
            ExposeSpec spec = parse(key, item.trim());
            if (!names.add(spec.name())) {
                throw new ConfigException(key, "service '" + spec.name() + "' is listed twice");
            }
            out.add(spec);
        }
        if (out.size() > Frame.Expose.MAX_SERVICES) {
            throw new ConfigException(key, "at most " + Frame.Expose.MAX_SERVICES + " services");
        }
        return out;
    }

    static ExposeSpec parse(String key, String item) {
        int eq = item.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException(key, "'" + item + "' is not " + SYNTAX);
        }
        String left = item.substring(0, eq).trim();
        String right = item.substring(eq + 1).trim();
        int requested = 0;
        int colon = left.indexOf(':');
        String name = colon < 0 ? left : left.substring(0, colon);
        if (!FrameCodec.isServiceName(name)) {
            throw new ConfigException(
                    key, "'" + item + "': service name '" + name + "' must be a-z, 0-9 and '-' (at most 63)");
        }
        try {
            if (colon >= 0) {
                requested = HostPort.parsePort(left.substring(colon + 1), 1);
            }
            String lower = right.toLowerCase(Locale.ROOT);
            if (lower.startsWith("http://") || lower.startsWith("https://")) {
                boolean tls = lower.startsWith("https://");
                if (requested != 0) {
                    throw new IllegalArgumentException(
                            "an HTTP service gets no public port; drop ':" + requested + "'");
                }
                String hostPort = right.substring(tls ? 8 : 7);
                if (hostPort.endsWith("/")) {
                    hostPort = hostPort.substring(0, hostPort.length() - 1);
                }
                if (hostPort.contains("/")) {
                    throw new IllegalArgumentException("no path after host:port");
                }
                return new ExposeSpec(name, Frame.ServiceKind.HTTP, 0, tls, HostPort.parse(hostPort, 1));
            }
            if (right.contains("://")) {
                throw new IllegalArgumentException("only http:// and https:// URLs, or host:port for TCP");
            }
            return new ExposeSpec(name, Frame.ServiceKind.TCP, requested, false, HostPort.parse(right, 1));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(key, "'" + item + "' is not " + SYNTAX + " (" + e.getMessage() + ")");
        }
    }
}
