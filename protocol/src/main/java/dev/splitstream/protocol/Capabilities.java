package dev.splitstream.protocol;

/** Optional features negotiated in the handshake, as bits of {@link Frame.Hello#capabilities()}. */
public final class Capabilities {
    /** Per-frame deflate of DATA payloads (the DATA frame's COMPRESSED flag). */
    public static final int DEFLATE = 1;

    /**
     * Split path: the connection that sends this HELLO carries client-to-server frames only; server-to-client frames
     * travel on a second leg that joins with {@link Frame.Intent#JOIN_DOWNSTREAM}. When agreed, the server does not
     * attach the first connection as the session's sink.
     */
    public static final int SPLIT = 2;

    /**
     * End-to-end frame protection (docs/PROTOCOL.md section 12): every session frame after the WELCOME travels sealed
     * with AES-256-GCM under keys derived from the handshake. Both sides must agree: a server refuses a HELLO whose bit
     * differs from its own setting ({@link CloseCode#ENCRYPTION_MISMATCH}), and a client refuses a CHALLENGE that does
     * not agree to the bit it offered.
     */
    public static final int ENCRYPTED = 4;

    /**
     * Expose (reverse tunnels): the client is an agent that may send {@link Frame.Expose} after the handshake; the
     * server answers with {@link Frame.ExposeResult} and opens streams to the agent's services (OPEN with the service
     * name as host and port 0). A server that does not agree never receives EXPOSE.
     */
    public static final int EXPOSE = 8;

    /**
     * Request log for agents: the server reports each HTTP request it routed to the agent's services with a
     * {@link Frame.RouteLog} (method, path, status, latency, bytes). Informational and lossy by design: the server sends
     * it only when the session's outbound path is not busy, at a bounded rate, and says how many reports it left out. A
     * client that did not offer it never receives ROUTE_LOG; received anyway, it is a {@code PROTOCOL_ERROR}.
     */
    public static final int ROUTE_LOG = 16;

    /**
     * Batched request log: with {@link #ROUTE_LOG} also agreed, the server sends its reports as {@link Frame.RouteLogs}
     * (up to {@link Frame.RouteLogs#MAX_REPORTS} a frame) instead of one ROUTE_LOG each, so one frame (one seal, one
     * WebSocket message) carries many requests and the rate bound can cover a busy route. Without it ROUTE_LOGS is
     * never sent; received anyway, it is a {@code PROTOCOL_ERROR}.
     */
    public static final int ROUTE_LOG_BATCH = 32;

    private Capabilities() {}
}
