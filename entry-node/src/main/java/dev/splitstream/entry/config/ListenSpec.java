package dev.splitstream.entry.config;

/** Where a listener binds: {@code [bind:]port}, bind address 127.0.0.1 unless given. */
public record ListenSpec(String bindHost, int port) {

    /** Default bind address: loopback only, so nothing else on the network can use the tunnel. */
    public static final String DEFAULT_BIND = "127.0.0.1";

    /** Parses {@code port}, {@code host:port} or {@code [v6]:port}. */
    static ListenSpec parse(String text) {
        String s = text.trim();
        if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
            return new ListenSpec(DEFAULT_BIND, HostPort.parsePort(s, 0));
        }
        HostPort hp = HostPort.parse(s, 0);
        return new ListenSpec(hp.host(), hp.port());
    }

    /** {@code bind:port} as printed in logs (brackets around IPv6). */
    public String display(int actualPort) {
        return new HostPort(bindHost, actualPort).toString();
    }
}
