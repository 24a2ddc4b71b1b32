package dev.splitstream.protocol;

/** Numeric frame type codes, as written on the wire. Codes are never reused. */
public enum FrameType {
    /** Client opens the handshake. */
    HELLO(0x01),
    /** Server's nonce and chosen version. */
    CHALLENGE(0x02),
    /** Client's HMAC over the transcript. */
    PROOF(0x03),
    /** Server accepts, with its own proof. */
    WELCOME(0x04),
    /** Opens a stream (reliable). */
    OPEN(0x10),
    /** Accepts a stream (reliable). */
    ACCEPT(0x11),
    /** Stream bytes, FIN (reliable). */
    DATA(0x12),
    /** Returns stream credit (reliable). */
    WINDOW_UPDATE(0x13),
    /** Cumulative acknowledgement of reliable frames. */
    ACK(0x14),
    /** Aborts a stream (reliable). */
    RESET(0x15),
    /** Keepalive and RTT probe. */
    PING(0x16),
    /** Answer to a ping. */
    PONG(0x17),
    /** Ends the session or refuses a handshake. */
    CLOSE(0x18),
    /** An agent announces the services it exposes, or releases them (unnumbered; client to server). */
    EXPOSE(0x20),
    /** The server's grants for an EXPOSE: public ports, or refusals with reasons (unnumbered; server to client). */
    EXPOSE_RESULT(0x21),
    /**
     * One HTTP request through a route to an agent's service, reported to the agent (unnumbered, informational; server
     * to client, only with the ROUTE_LOG capability).
     */
    ROUTE_LOG(0x22),
    /**
     * Several ROUTE_LOG reports in one frame (unnumbered, informational; server to client, only with the
     * ROUTE_LOG_BATCH capability).
     */
    ROUTE_LOGS(0x23);

    /** Wire code. */
    public final int code;

    FrameType(int code) {
        this.code = code;
    }
}
