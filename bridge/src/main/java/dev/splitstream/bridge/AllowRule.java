package dev.splitstream.bridge;

import java.net.InetAddress;
import java.util.Locale;

/**
 * One allow-list entry: a host name or an address range (CIDR, or a single address), and a port or any port.
 *
 * @param host lower-case host name without trailing dot, or null for an address rule
 * @param network network address of an address rule, else null
 * @param prefixLength prefix length of an address rule
 * @param port allowed port, or -1 for any
 * @param text the entry as configured
 */
public record AllowRule(String host, byte[] network, int prefixLength, int port, String text) {

    /** Parses {@code host:port}, {@code host:*}, {@code cidr:port}, {@code cidr:*}; IPv6 in brackets. */
    public static AllowRule parse(String entry) {
        String text = entry.trim();
        if (text.isEmpty()) {
            throw new IllegalArgumentException("empty entry");
        }
        String hostPart;
        String portPart;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0 || close + 1 >= text.length() || text.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("'" + text + "': expected [ipv6]:port or [ipv6/len]:port");
            }
            hostPart = text.substring(1, close);
            portPart = text.substring(close + 2);
        } else {
            int colon = text.lastIndexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException("'" + text + "': expected host:port, host:*, cidr:port or cidr:*");
            }
            hostPart = text.substring(0, colon);
            portPart = text.substring(colon + 1);
            if (hostPart.indexOf(':') >= 0 && hostPart.indexOf('/') < 0) {
                throw new IllegalArgumentException("'" + text + "': write IPv6 addresses in brackets, e.g. [::1]:22");
            }
        }
        int port = parsePort(text, portPart);
        int slash = hostPart.indexOf('/');
        String addressText = slash >= 0 ? hostPart.substring(0, slash) : hostPart;
        InetAddress address = IpLiterals.parse(addressText).orElse(null);
        if (slash >= 0 || address != null) {
            if (address == null) {
                throw new IllegalArgumentException("'" + text + "': '" + addressText + "' is not an IP address");
            }
            byte[] bytes = address.getAddress();
            int max = bytes.length * 8;
            int len = max;
            if (slash >= 0) {
                try {
                    len = Integer.parseInt(hostPart.substring(slash + 1));
                } catch (NumberFormatException e) {
                    len = -1;
                }
                if (len < 0 || len > max) {
                    throw new IllegalArgumentException("'" + text + "': prefix length must be 0.." + max);
                }
            }
            return new AllowRule(null, mask(bytes, len), len, port, text);
        }
        String host = normalizeHost(hostPart);
        if (host.isEmpty() || !host.matches("[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")) {
            throw new IllegalArgumentException("'" + text + "': '" + hostPart + "' is not a valid host name");
        }
        return new AllowRule(host, null, 0, port, text);
    }

    private static int parsePort(String text, String portPart) {
        if (portPart.equals("*")) {
            return -1;
        }
        try {
            int port = Integer.parseInt(portPart);
            if (port >= 1 && port <= 65535) {
                return port;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("'" + text + "': port must be 1..65535 or *");
    }

    /** Lower case, without a trailing dot. */
    public static String normalizeHost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.endsWith(".") ? h.substring(0, h.length() - 1) : h;
    }

    private static byte[] mask(byte[] bytes, int len) {
        byte[] out = bytes.clone();
        for (int i = 0; i < out.length; i++) {
            int bits = Math.max(0, Math.min(8, len - i * 8));
            out[i] = (byte) (out[i] & (0xff << (8 - bits)));
        }
        return out;
    }

    /** True for an address rule (CIDR or single address). */
    public boolean isAddressRule() {
        return network != null;
    }

    /** True if this rule allows {@code port}. */
    public boolean allowsPort(int p) {
        return port < 0 || port == p;
    }

    /** True if this host-name rule names {@code normalizedHost} and allows the port. */
    public boolean matchesName(String normalizedHost, int p) {
        return host != null && host.equals(normalizedHost) && allowsPort(p);
    }

    /** True if this address rule contains {@code address} and allows the port. IPv4-mapped IPv6 is not unwrapped. */
    public boolean matchesAddress(InetAddress address, int p) {
        if (network == null || !allowsPort(p)) {
            return false;
        }
        byte[] a = address.getAddress();
        if (a.length != network.length) {
            return false;
        }
        return java.util.Arrays.equals(mask(a, prefixLength), network);
    }

    @Override
    public String toString() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AllowRule r && r.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }
}
