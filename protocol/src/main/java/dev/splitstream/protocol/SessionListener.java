package dev.splitstream.protocol;

/** Receives session-level events, on the session's thread. */
public interface SessionListener {
    /**
     * The peer opened a stream to {@link Stream#host()}:{@link Stream#port()}. Answer later (e.g. once a target
     * connected) with {@link Stream#accept(StreamHandler)} or {@link Stream#reset(ResetCode, String)}.
     */
    void onStreamOpened(Stream stream);

    /** The session ended: closed by either side, or a protocol error. */
    default void onClosed(CloseCode code, String message) {}

    /** Server side: the agent announced (or released) its services ({@link Capabilities#EXPOSE}). */
    default void onExpose(Frame.Expose expose) {}

    /** Client side: the server answered this agent's announcement. */
    default void onExposeResult(Frame.ExposeResult result) {}

    /** Client side: the server reports one HTTP request it routed to this agent ({@link Capabilities#ROUTE_LOG}). */
    default void onRouteLog(Frame.RouteLog report) {}

    /** A pong answered one of this side's pings. */
    default void onRtt(long rttNanos) {}
}
