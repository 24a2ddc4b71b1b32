package dev.splitstream.entry.config;

import java.util.Locale;

/**
 * A host (name, IPv4 or IPv6 literal, without brackets) and a port. Parses {@code host:port} and
 * {@code [v6]:port}.
 */
public record HostPort(String host, int port) {

    /** {@code host:port}, with brackets around IPv6 literals. */
    @Override
    public String toString() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /**
     * Parses {@code host:port} or {@code [v6]:port}.
     *
     * @param minPort 0 for listen ports (0 picks a free one), 1 for targets
     * @throws IllegalArgumentException with a short reason
     */
    static HostPort parse(String text, int minPort) {
        String s = text.trim();
        String host;
        String port;
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0 || close + 1 >= s.length() || s.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("missing port");
            }
            host = s.substring(1, close);
            port = s.substring(close + 2);
            if (host.indexOf(':') < 0) {
                throw new IllegalArgumentException("brackets are for IPv6 addresses only");
            }
        } else {
            int colon = s.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("missing port");
            }
            host = s.substring(0, colon);
            port = s.substring(colon + 1);
            if (host.indexOf(':') >= 0) {
                throw new IllegalArgumentException("put IPv6 addresses in brackets");
            }
        }
        checkHost(host);
        return new HostPort(host, parsePort(port, minPort));
    }

    static void checkHost(String host) {
        if (host.isEmpty()) {
            throw new IllegalArgumentException("empty host");
        }
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (c <= ' ' || c == '/' || c == '@' || c == '=' || c == ',' || c == '[' || c == ']') {
                throw new IllegalArgumentException("bad character in host '" + host + "'");
            }
        }
    }

    static int parsePort(String text, int minPort) {
        int port;
        try {
            port = Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("port '" + text + "' is not a number");
        }
        if (port < minPort || port > 65535) {
            throw new IllegalArgumentException("port " + port + " out of range " + minPort + "-65535");
        }
        return port;
    }

    /** True for localhost names and loopback literals; never resolves names. */
    static boolean isLoopback(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        return h.equals("localhost")
                || h.endsWith(".localhost")
                || h.startsWith("127.")
                || h.equals("::1")
                || h.equals("0:0:0:0:0:0:0:1");
    }
}
