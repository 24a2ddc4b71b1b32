package dev.splitstream.exit.token;

import java.util.Optional;

/**
 * What a token may expose (reverse tunnels).
 *
 * @param allowed whether its agents may expose services at all
 * @param lowPort lowest public port its services may get (within the exit's SPLITSTREAM_EXIT_PUBLIC_PORTS)
 * @param highPort highest public port its services may get
 * @param maxPorts most public ports its agents hold at once (leases counting down included)
 * @param maxAgents most agents (connected, or away with leases) at once
 * @param maxQueued most connections waiting for one of its agents while it reconnects
 * @param routePassword the Basic password HTTP clients give to reach its agents through routes; empty: none
 */
public record ExposePolicy(
        boolean allowed,
        int lowPort,
        int highPort,
        int maxPorts,
        int maxAgents,
        int maxQueued,
        Optional<RoutePassword> routePassword) {

    /** A policy without a route password. */
    public ExposePolicy(boolean allowed, int lowPort, int highPort, int maxPorts, int maxAgents, int maxQueued) {
        this(allowed, lowPort, highPort, maxPorts, maxAgents, maxQueued, Optional.empty());
    }

    /** Nothing may be exposed. */
    public static final ExposePolicy DENIED = new ExposePolicy(false, 1, 0, 0, 0, 0);

    /** Default most agents per token. */
    public static final int DEFAULT_MAX_AGENTS = 16;
}
