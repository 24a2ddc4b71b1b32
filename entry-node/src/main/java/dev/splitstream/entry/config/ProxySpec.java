package dev.splitstream.entry.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * An outbound HTTP proxy (tunnelled through with CONNECT). The credentials never appear in {@link #toString()} or
 * {@link #display()}.
 *
 * @param source where it came from: the property name or the environment variable
 */
public record ProxySpec(String host, int port, Optional<String> username, Optional<String> password, String source) {

    /** Port assumed when a proxy URL names none (as curl does). */
    static final int DEFAULT_PORT = 1080;

    /** {@code http://host:port}, without credentials. */
    public String display() {
        return "http://" + new HostPort(host, port);
    }

    @Override
    public String toString() {
        return "ProxySpec[" + display() + (username.isPresent() ? " with credentials" : "") + " from " + source + "]";
    }

    /** Parses {@code http://[user:pass@]host[:port]} (also without the scheme, as proxy variables often are). */
    static ProxySpec parse(String source, String text) {
        String s = text.trim();
        if (!s.contains("://")) {
            s = "http://" + s;
        }
        URI uri;
        try {
            uri = new URI(s);
        } catch (URISyntaxException e) {
            throw new ConfigException(source, "'" + redact(text) + "' is not http://[user:pass@]host:port");
        }
        String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http")) {
            throw new ConfigException(
                    source, "proxy scheme '" + scheme + "' is not supported; use http://[user:pass@]host:port");
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new ConfigException(source, "'" + redact(text) + "' has no host; use http://[user:pass@]host:port");
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort();
        Optional<String> user = Optional.empty();
        Optional<String> pass = Optional.empty();
        String info = uri.getRawUserInfo();
        if (info != null && !info.isEmpty()) {
            int colon = info.indexOf(':');
            user = Optional.of(decode(colon < 0 ? info : info.substring(0, colon)));
            pass = Optional.of(colon < 0 ? "" : decode(info.substring(colon + 1)));
        }
        return new ProxySpec(host, port, user, pass, source);
    }

    /**
     * The proxy for a connection to {@code serverHost}: the configured one, else the environment's (https_proxy or
     * HTTPS_PROXY for TLS, http_proxy or HTTP_PROXY otherwise), unless no_proxy lists the host or the host is a
     * loopback address (as Go's ProxyFromEnvironment does: a proxy cannot reach this machine's loopback).
     */
    static Optional<ProxySpec> select(
            String key, Optional<String> configured, Map<String, String> env, boolean tls, String serverHost) {
        if (configured.isPresent() && !configured.get().isBlank()) {
            String value = configured.get().trim();
            if (value.equalsIgnoreCase("none") || value.equalsIgnoreCase("direct")) {
                return Optional.empty();
            }
            return Optional.of(parse(key, value));
        }
        String[] names = tls ? new String[] {"https_proxy", "HTTPS_PROXY"} : new String[] {"http_proxy", "HTTP_PROXY"};
        for (String name : names) {
            String value = env.get(name);
            if (value != null && !value.isBlank()) {
                if (HostPort.isLoopback(serverHost) || noProxyMatches(env, serverHost)) {
                    return Optional.empty();
                }
                return Optional.of(parse(name, value));
            }
        }
        return Optional.empty();
    }

    static boolean noProxyMatches(Map<String, String> env, String host) {
        String list = env.getOrDefault("no_proxy", env.getOrDefault("NO_PROXY", ""));
        String h = host.toLowerCase(Locale.ROOT);
        for (String raw : list.split(",")) {
            String entry = raw.trim().toLowerCase(Locale.ROOT);
            if (entry.isEmpty()) {
                continue;
            }
            if (entry.equals("*")) {
                return true;
            }
            if (entry.startsWith("[")) {
                int close = entry.indexOf(']');
                entry = close > 0 ? entry.substring(1, close) : entry;
            } else if (entry.indexOf(':') == entry.lastIndexOf(':') && entry.indexOf(':') > 0) {
                entry = entry.substring(0, entry.indexOf(':')); // host:port: the port does not matter here
            }
            if (entry.startsWith("*.")) {
                entry = entry.substring(1);
            }
            if (entry.startsWith(".")) {
                if (h.endsWith(entry) || h.equals(entry.substring(1))) {
                    return true;
                }
            } else if (h.equals(entry) || h.endsWith("." + entry)) {
                return true;
            }
        }
        return false;
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /** The URL text with any user info replaced, for error messages. */
    static String redact(String text) {
        int at = text.lastIndexOf('@');
        if (at < 0) {
            return text;
        }
        int schemeEnd = text.indexOf("://");
        String prefix = schemeEnd >= 0 && schemeEnd < at ? text.substring(0, schemeEnd + 3) : "";
        return prefix + "<credentials>" + text.substring(at);
    }
}
