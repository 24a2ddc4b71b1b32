package dev.splitstream.entry.agent;

import dev.splitstream.bridge.AllowList;
import dev.splitstream.bridge.DialException;
import dev.splitstream.bridge.Dialer;
import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.config.ExposeSpec;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.RateLimitedLog;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import io.vertx.core.Vertx;
import io.vertx.core.net.TrustOptions;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jboss.logging.Logger;

/**
 * Agent mode: the services this entry node exposes through the exit node. Builds the announcement, reports the exit's
 * grants, and connects the streams the exit opens, each to its service's target only: an OPEN naming anything else is
 * refused, so the exit can never make the agent dial what it did not expose. Runs on the session's context.
 */
public final class Agent {
    private static final Logger LOG = Logger.getLogger(Agent.class);

    private final EntrySettings.Agent config;
    private final String exitHost;
    private final Dialer dialer;
    private final Dialer tlsDialer;
    private final EntryMetrics metrics;
    private final BufferBudget budget;
    private final Map<String, ExposeSpec> byName = new HashMap<>();
    private final Map<String, AllowList> allow = new HashMap<>();
    private final Map<String, Frame.Grant> granted = new HashMap<>();
    /** Never logged: request lines have it replaced. */
    private final String routeToken;
    /** The console's batching of request lines; null when the console is not a plain console handler. */
    private final BatchedConsole console;

    public Agent(
            Vertx vertx,
            EntrySettings.Agent config,
            String exitHost,
            Duration dialTimeout,
            TrustOptions serviceTrust,
            EntryMetrics metrics,
            BufferBudget budget) {
        this.budget = budget;
        this.config = config;
        this.exitHost = exitHost;
        this.dialer = new Dialer(vertx, dialTimeout);
        // https:// services (and X-Host https:// targets): TLS from the agent, the certificate verified against the
        // JVM's CAs plus SPLITSTREAM_ENTRY_CA_FILE.
        this.tlsDialer = Dialer.tls(vertx, dialTimeout, serviceTrust);
        this.metrics = metrics;
        this.routeToken = config.routeToken()
                .map(t -> new String(t.bytes(), java.nio.charset.StandardCharsets.UTF_8))
                .orElse(null);
        this.console = BatchedConsole.install(vertx, REQUESTS_LOGGER);
        for (ExposeSpec s : config.services()) {
            if (s.kind() == Frame.ServiceKind.HTTP) {
                metrics.routeRequests().register(s.name());
            }
            byName.put(s.name(), s);
            allow.put(s.name(), AllowList.parse(List.of(s.target().toString())));
        }
    }

    /** The agent's name. */
    public String name() {
        return config.name();
    }

    /** True when a normal stop should free the agent's leases. */
    public boolean releaseOnExit() {
        return config.releaseOnExit();
    }

    /** What the agent announces after every handshake. */
    public Frame.Expose announcement() {
        return new Frame.Expose(
                config.name(),
                false,
                config.services().stream()
                        .map(s -> new Frame.ExposedService(s.name(), s.kind(), s.requestedPort(), s.display()))
                        .toList(),
                config.routeToken()
                        .map(t -> new String(t.bytes(), java.nio.charset.StandardCharsets.UTF_8))
                        .orElse(""));
    }

    /**
     * One line per service for the status screen: its name, target, and where the exit exposes it (or why not). On
     * the session's context.
     */
    public List<String> describe() {
        List<String> lines = new java.util.ArrayList<>();
        for (ExposeSpec s : config.services()) {
            Frame.Grant g = granted.get(s.name());
            String where = g == null
                    ? "waiting for the exit node's answer"
                    : !g.granted()
                            ? "refused: " + g.detail()
                            : g.publicPort() > 0 ? "tcp://" + exitHost + ":" + g.publicPort() : "HTTP service";
            lines.add(s.name() + " " + s.display() + " -> " + where);
        }
        return lines;
    }

    /** The announcement that frees every lease at once. */
    public Frame.Expose release() {
        return new Frame.Expose(config.name(), true, List.of());
    }

    /** Reports the exit's answer; a grant is printed when it is new or changed. */
    public void onResult(Frame.ExposeResult result) {
        for (Frame.Grant g : result.grants()) {
            ExposeSpec spec = byName.get(g.name());
            if (spec == null) {
                continue;
            }
            Frame.Grant before = granted.put(g.name(), g);
            if (g.equals(before)) {
                continue;
            }
            if (!g.granted()) {
                LOG.errorf("cannot expose %s %s: %s", spec.name(), spec.display(), g.detail());
            } else if (g.publicPort() > 0) {
                LOG.infof("exposing %s %s at tcp://%s:%d", spec.name(), spec.display(), exitHost, g.publicPort());
            } else {
                LOG.infof("exposing %s %s as an HTTP service", spec.name(), spec.display());
            }
        }
    }

    /**
     * The exit reports one HTTP request it routed to a service: one log line ({@code [web] GET /index.html 200 3.1 ms
     * 1.2 KiB}) on the {@value #REQUESTS_LOGGER} category, and the request counted in the metrics. A report naming
     * anything but one of this agent's HTTP services is ignored (the metrics' service label stays bounded). The route
     * token never shows, even where a client put it into the path again.
     */
    public void onRouteLog(Frame.RouteLog report) {
        ExposeSpec spec = byName.get(report.service());
        if (spec == null || spec.kind() != Frame.ServiceKind.HTTP) {
            REFUSED_REPORTS.log(
                    "unknown service",
                    "the exit node reported a request to %s, which is not an HTTP service of this agent",
                    report.service());
            return;
        }
        String line = requestLine(report, routeToken);
        metrics.routeRequests().record(report, line);
        REQUESTS.log(report.service(), line); // no arguments: written as it is, never parsed as a format
        if (report.skipped() > 0) {
            REQUESTS.log(
                    "skipped",
                    "%d more requests were not reported by the exit node (too many at once, or the tunnel was busy)",
                    report.skipped());
        }
    }

    /** Category of the request log lines: set it to WARN to silence them (the metrics still count). */
    public static final String REQUESTS_LOGGER = "dev.splitstream.entry.requests";

    private static final Logger REQUESTS_LOG = Logger.getLogger(REQUESTS_LOGGER);
    /**
     * At most this many request lines a second per service, whatever the exit sends: the exit's own bound for batched
     * reports (ROUTE_LOGS), so every request it reports is one line; 100 a second for an exit that sends them one by one.
     */
    static final int REQUEST_LINES_PER_SECOND = 20_000;

    private static final RateLimitedLog REQUESTS =
            new RateLimitedLog(REQUESTS_LOG::info, REQUEST_LINES_PER_SECOND, Duration.ofSeconds(1), System::nanoTime);

    private static final RateLimitedLog REFUSED_REPORTS = RateLimitedLog.of(LOG::warn);

    /** {@code [web] GET /index.html 200 3.1 ms 1.2 KiB}, with what the client sent and the route when not a token. */
    static String requestLine(Frame.RouteLog r, String routeToken) {
        String path = r.path();
        if (routeToken != null && !routeToken.isEmpty() && path.contains(routeToken)) {
            path = path.replace(routeToken, "<redacted>");
        }
        StringBuilder b = new StringBuilder()
                .append('[')
                .append(r.service())
                .append("] ")
                .append(r.method())
                .append(' ')
                .append(path)
                .append(' ')
                .append(r.status() == 0 ? "---" : Integer.toString(r.status()))
                .append(' ')
                .append(latency(r.latencyMicros()))
                .append(' ')
                .append(bytes(r.bytesOut()));
        if (r.bytesIn() > 0) {
            b.append(" (sent ").append(bytes(r.bytesIn())).append(')');
        }
        if (r.via() != Frame.RouteVia.TOKEN) {
            b.append(" via ").append(r.via().name().toLowerCase(java.util.Locale.ROOT));
        }
        return b.toString();
    }

    /** 850 us, 3.1 ms, 2.45 s. */
    static String latency(long micros) {
        if (micros < 1000) {
            return micros + " us";
        }
        // what "%.1f ms" and "%.2f s" print (half up), without a Formatter per request line
        if (micros < 1_000_000) {
            return decimal(micros / 100 + (micros % 100 >= 50 ? 1 : 0), 1) + " ms";
        }
        return decimal(micros / 10_000 + (micros % 10_000 >= 5_000 ? 1 : 0), 2) + " s";
    }

    /** {@code scaled} / 10^{@code places} with exactly {@code places} decimals. */
    private static String decimal(long scaled, int places) {
        long unit = places == 1 ? 10 : 100;
        long fraction = scaled % unit;
        return (scaled / unit) + "." + (places == 2 && fraction < 10 ? "0" : "") + fraction;
    }

    /** 1023 B, 1.2 KiB, 3.4 MiB, 1.0 GiB. */
    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        if (n < 1L << 30) {
            // what "%.1f KiB" / "%.1f MiB" print (half up), without a Formatter per request line
            int shift = n < 1L << 20 ? 10 : 20;
            return decimal((n * 10 + (1L << (shift - 1))) >> shift, 1) + (shift == 10 ? " KiB" : " MiB");
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** The exit opened a stream to one of the services (host = service name, port 0). */
    public void onStreamOpened(Stream stream) {
        int bar = stream.host().indexOf('|');
        if (bar > 0 && stream.port() == 0) {
            onXHost(stream, stream.host().substring(0, bar), stream.host().substring(bar + 1));
            return;
        }
        ExposeSpec spec = stream.port() == 0 ? byName.get(stream.host()) : null;
        if (spec == null) {
            LOG.warnf("the exit node asked for %s:%d, which this agent does not expose", stream.host(), stream.port());
            stream.reset(
                    ResetCode.NOT_ALLOWED,
                    "agent " + config.name() + " exposes no service " + stream.host()
                            + (stream.port() == 0 ? "" : ":" + stream.port()));
            return;
        }
        String target = spec.target().toString();
        (spec.tls() ? tlsDialer : dialer)
                .dial(spec.target().host(), spec.target().port(), allow.get(spec.name()), "service " + spec.name())
                .onComplete(ar -> {
                    if (ar.failed()) {
                        DialException e = ar.cause() instanceof DialException d
                                ? d
                                : new DialException(ResetCode.INTERNAL, "dialing " + target + " failed");
                        LOG.warnf("service %s: %s", spec.name(), e.getMessage());
                        stream.reset(e.code(), e.getMessage());
                        return;
                    }
                    new SocketBridge(
                                    ar.result(),
                                    "service connection",
                                    spec.name() + " (" + target + ")",
                                    metrics.local(),
                                    null,
                                    budget)
                            .accept(stream);
                });
    }

    /**
     * An HTTP request through a route named another target with {@code X-Host}: allowed only when the agent's
     * SPLITSTREAM_ENTRY_HTTP_HOSTS matches it as a whole, and only for an HTTP service.
     */
    private void onXHost(Stream stream, String service, String xHost) {
        ExposeSpec spec = byName.get(service);
        if (spec == null || spec.kind() != Frame.ServiceKind.HTTP) {
            stream.reset(ResetCode.NOT_ALLOWED, "agent " + config.name() + " exposes no HTTP service " + service);
            return;
        }
        java.net.URI uri;
        try {
            uri = new java.net.URI(xHost);
        } catch (java.net.URISyntaxException e) {
            stream.reset(ResetCode.NOT_ALLOWED, "X-Host is not scheme://host[:port]");
            return;
        }
        if (config.httpHosts().isEmpty()
                || !config.httpHosts().get().matcher(xHost).matches()
                || uri.getHost() == null) {
            LOG.warnf("service %s: X-Host %s refused (not matched by SPLITSTREAM_ENTRY_HTTP_HOSTS)", service, xHost);
            stream.reset(ResetCode.NOT_ALLOWED, "X-Host " + xHost + " is not allowed by this agent");
            return;
        }
        String host = uri.getHost();
        int port = uri.getPort() > 0 ? uri.getPort() : ("https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80);
        String hostPort = (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        Dialer xHostDialer = "https".equalsIgnoreCase(uri.getScheme()) ? tlsDialer : dialer;
        xHostDialer
                .dial(host, port, AllowList.parse(List.of(hostPort)), "service " + service + " X-Host " + xHost)
                .onComplete(ar -> {
                    if (ar.failed()) {
                        DialException e = ar.cause() instanceof DialException d
                                ? d
                                : new DialException(ResetCode.INTERNAL, "dialing " + hostPort + " failed");
                        LOG.warnf("service %s X-Host %s: %s", service, xHost, e.getMessage());
                        stream.reset(
                                e.code() == ResetCode.NOT_ALLOWED ? ResetCode.CONNECT_FAILED : e.code(),
                                e.getMessage());
                        return;
                    }
                    new SocketBridge(
                                    ar.result(),
                                    "service connection",
                                    service + " (" + xHost + ")",
                                    metrics.local(),
                                    null,
                                    budget)
                            .accept(stream);
                });
    }

    /** Closes the dialer (node shutdown). */
    public void close() {
        dialer.close();
        tlsDialer.close();
        if (console != null) {
            console.close();
        }
    }
}
