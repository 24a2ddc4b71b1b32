package dev.splitstream.exit.route;

import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import io.quarkus.arc.ClientProxy;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Tells an agent about each HTTP request routed to its services (ROUTE_LOG), so the agent can show its own request log
 * and count requests. Called once where a route request is recorded; everything after that (rate bound, busy path,
 * drop counting) is the agent's session's business ({@code ExitSession#reportRequest}).
 */
@ApplicationScoped
public class AgentReports {
    /** A {@code /_token/<token>} segment anywhere in a path (a client may nest one): the token never leaves. */
    private static final Pattern TOKEN_SEGMENT = Pattern.compile("/_token/[^/]*");

    private final ExposeService expose;

    public AgentReports(ExposeService expose) {
        this.expose = ClientProxy.unwrap(expose); // called per request: no bean lookup through ArC's proxy
    }

    /** {@code path} with every {@code /_token/<token>} segment's token replaced by {@code <redacted>}. */
    static String withoutTokens(String path) {
        return path == null || !path.contains("/_token/")
                ? path
                : TOKEN_SEGMENT.matcher(path).replaceAll("/_token/<redacted>");
    }

    /**
     * Reports one finished request to {@code agent}'s session, if it is connected. {@code path} is the path the service
     * saw (no route token prefix); the query string is dropped here. Any thread; never blocks.
     */
    public void report(
            String agent,
            String service,
            RequestLog.Via via,
            String method,
            String path,
            int status,
            long nanos,
            long bytesIn,
            long bytesOut) {
        if (!FrameCodec.isServiceName(service)) {
            return; // a request that never reached a service (no HTTP service behind the token) is not the agent's
        }
        Frame.RouteLog report = new Frame.RouteLog(
                service,
                switch (via) {
                    case TOKEN -> Frame.RouteVia.TOKEN;
                    case HOST -> Frame.RouteVia.HOST;
                    case HUB -> Frame.RouteVia.HUB;
                },
                FrameCodec.isMethod(method) ? method : "OTHER",
                Frame.RouteLog.loggablePath(withoutTokens(path)),
                status >= 100 && status <= 999 ? status : 0,
                Math.max(0, TimeUnit.NANOSECONDS.toMicros(nanos)),
                Math.max(0, bytesIn),
                Math.max(0, bytesOut),
                0);
        expose.sessionOf(agent).ifPresent(s -> s.reportRequest(report));
    }
}
