package dev.splitstream.entry.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Optional;

/**
 * The exit node's WebSocket endpoint, derived from {@code splitstream.entry.server}: the base URL (optionally with a
 * path prefix for ingress routing) plus {@link #WS_PATH}.
 *
 * @param display the configured URL without user info, for logs
 * @param basicUser user info of the URL, sent as HTTP Basic authorization (for an ingress that wants it)
 */
public record ServerEndpoint(
        boolean tls,
        String host,
        int port,
        String path,
        String display,
        Optional<String> basicUser,
        Optional<String> basicPassword) {

    /** The exit node's WebSocket path, appended to the configured URL's path. */
    public static final String WS_PATH = "/splitstream/v1/ws";

    /** The exit node's plain-HTTP transport paths, below the configured URL's path. */
    public static final String HTTP_PATH = "/splitstream/v1/http/";

    @Override
    public String toString() {
        return "ServerEndpoint[" + display + "]";
    }

    /**
     * Parses {@code ws://}, {@code wss://}, {@code http://} or {@code https://} (the HTTP schemes mean the same
     * WebSocket endpoint, with or without TLS).
     */
    static ServerEndpoint parse(String key, String text) {
        String s = text.trim();
        URI uri;
        try {
            uri = new URI(s);
        } catch (URISyntaxException e) {
            throw new ConfigException(key, "'" + ProxySpec.redact(s) + "' is not a URL like ws://host:port");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        boolean tls;
        switch (scheme) {
            case "ws", "http" -> tls = false;
            case "wss", "https" -> tls = true;
            default ->
                throw new ConfigException(
                        key, "'" + ProxySpec.redact(s) + "' must start with ws://, wss://, http:// or https://");
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new ConfigException(key, "'" + ProxySpec.redact(s) + "' has no host");
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new ConfigException(key, "'" + ProxySpec.redact(s) + "' must not carry a query or fragment");
        }
        int port = uri.getPort() >= 0 ? uri.getPort() : (tls ? 443 : 80);
        String prefix = uri.getRawPath() == null ? "" : uri.getRawPath();
        while (prefix.endsWith("/")) {
            prefix = prefix.substring(0, prefix.length() - 1);
        }
        Optional<String> user = Optional.empty();
        Optional<String> pass = Optional.empty();
        String info = uri.getRawUserInfo();
        if (info != null && !info.isEmpty()) {
            int colon = info.indexOf(':');
            user = Optional.of(decode(colon < 0 ? info : info.substring(0, colon)));
            pass = Optional.of(colon < 0 ? "" : decode(info.substring(colon + 1)));
        }
        String authority =
                (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + (uri.getPort() >= 0 ? ":" + uri.getPort() : "");
        String display = scheme + "://" + authority + prefix;
        return new ServerEndpoint(tls, host, port, prefix + WS_PATH, display, user, pass);
    }

    /** Path of the plain-HTTP transport's {@code tail} ({@code handshake}, {@code up}, {@code down}). */
    public String httpPath(String tail) {
        return path.substring(0, path.length() - WS_PATH.length()) + HTTP_PATH + tail;
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }
}
