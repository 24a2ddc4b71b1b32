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
        for (ExposeSpec s : config.services()) {
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
    }
}
