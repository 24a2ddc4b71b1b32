package dev.splitstream.exit.relay;

import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.exit.expose.ServiceKey;
import dev.splitstream.exit.registry.ExitRegistry;
import dev.splitstream.exit.registry.ExitRegistry.OwnerLookup;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.arc.ClientProxy;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.NetSocket;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Public ports and HTTP routes served by every replica: a public connection or route request that reaches a replica
 * which does not hold the agent's session goes to the replica that does, over the same authenticated hop as relayed
 * legs ({@link ClusterAuth}).
 *
 * <ul>
 *   <li>a public connection becomes an HTTP/1.1 upgrade ({@value #UPGRADE}) to {@value #PATH} on the owner, which
 *       answers 101 and bridges the raw connection to a stream to the agent as if the client had connected there; the
 *       two sockets are spliced here with backpressure both ways;
 *   <li>a route request is forwarded as is (streamed both ways) to the owner, which routes it to the agent and never
 *       relays it again.
 * </ul>
 *
 * An owner that cannot be reached (offline, registry down) closes the connection or answers 503. Agents away
 * (reconnecting) are waited for where the connection or request arrived; when such an agent comes back on another
 * replica, what waits for it follows it there ({@link ExposeService.Follower}).
 */
@ApplicationScoped
public class ExposeRelay implements ExposeService.Remote {
    private static final Logger LOG = Logger.getLogger(ExposeRelay.class);
    static final String PATH = "/splitstream/v1/cluster/expose";
    static final String UPGRADE = "splitstream-expose";
    private final LegRelay legs;
    private final ExposeService expose;
    private final ExitRegistry registry;
    private final Vertx vertx;
    private final Counter relayedPorts;
    private final Counter relayedRoutes;
    private final Counter relayedHub;
    private final Counter unreachable;
    private final ReplicaConnections replicas;

    public ExposeRelay(
            LegRelay legs,
            ExposeService expose,
            ExitRegistry registry,
            Vertx vertx,
            MeterRegistry meters,
            ReplicaConnections replicas) {
        this.legs = ClientProxy.unwrap(legs); // asked on every route request: no bean lookup through ArC's proxy
        this.replicas = replicas;
        this.expose = expose;
        this.registry = registry;
        this.vertx = vertx;
        this.relayedPorts = Counter.builder("splitstream.exit.expose.relayed")
                .tag("kind", "port")
                .description(
                        "Public connections (port), route requests (route) and Hub requests (hub) relayed to the agent's replica")
                .register(meters);
        this.relayedRoutes = Counter.builder("splitstream.exit.expose.relayed")
                .tag("kind", "route")
                .description(
                        "Public connections (port), route requests (route) and Hub requests (hub) relayed to the agent's replica")
                .register(meters);
        this.relayedHub = Counter.builder("splitstream.exit.expose.relayed")
                .tag("kind", "hub")
                .description(
                        "Public connections (port), route requests (route) and Hub requests (hub) relayed to the agent's replica")
                .register(meters);
        this.unreachable = Counter.builder("splitstream.exit.expose.relay.failures")
                .description("Public connections and route requests whose agent's replica could not be reached")
                .register(meters);
    }

    void onStart(@Observes StartupEvent event) {
        if (legs.enabled()) {
            expose.remote(this);
        }
    }

    void routes(@Observes Router router) {
        if (!legs.enabled()) {
            return;
        }
        router.route(PATH).order(-1100).handler(this::relayed);
    }

    // ---------------------------------------------------------------- public ports

    @Override
    public void relayPort(NetSocket socket, ServiceKey key, int port, String owner) {
        // AUTO_READ off, not pause(): nothing waits in Vert.x's queue, so the connection can still wait here as a
        // parked socket if the owner turns out unreachable (ExposeService.relayFailed)
        SocketBridge.reading(socket, false);
        String client = String.valueOf(socket.remoteAddress());
        Context context = vertx.getOrCreateContext();
        long started = System.nanoTime();
        registry.replica(owner)
                .onComplete(ar -> context.runOnContext(v -> {
                    OwnerLookup found =
                            ar.succeeded() ? ar.result() : OwnerLookup.unavailable(String.valueOf(ar.cause()));
                    if (found.kind() != OwnerLookup.Kind.OWNER) {
                        refused(socket, key, port, owner, client, found.detail());
                        return;
                    }
                    hop(socket, key, port, found, client, started);
                }));
    }

    /**
     * Opens the hop to the owner: a TCP connection with one HTTP/1.1 upgrade request on it, then raw bytes. Written
     * here rather than with Vert.x's HTTP client tunnel, whose socket hides its channel, so that a client's FIN could
     * not be passed on (half-close) and an empty write never completed.
     */
    private void hop(NetSocket socket, ServiceKey key, int port, OwnerLookup owner, String client, long started) {
        URI base = owner.url();
        boolean tls = "https".equals(base.getScheme().toLowerCase(Locale.ROOT));
        String prefix = base.getRawPath() == null ? "" : base.getRawPath().replaceAll("/+$", "");
        int ownerPort = base.getPort() > 0 ? base.getPort() : tls ? 443 : 80;
        String request = "GET " + prefix + PATH + "?agent=" + encode(key.agent()) + "&service="
                + encode(key.service()) + " HTTP/1.1\r\n"
                + "Host: " + base.getHost() + ":" + ownerPort + "\r\n"
                + "Connection: Upgrade\r\n"
                + "Upgrade: " + UPGRADE + "\r\n"
                + ClusterAuth.RELAY_HEADER + ": " + legs.sign(client) + "\r\n"
                + ClusterAuth.FOR_HEADER + ": " + client + "\r\n\r\n";
        Consumer<String> failed = why -> refused(socket, key, port, owner.replicaId(), client, why);
        replicas.client(tls).connect(ownerPort, base.getHost()).onComplete(ar -> {
            if (ar.failed()) {
                failed.accept(ar.cause().toString());
                return;
            }
            NetSocket hop = ar.result();
            SocketBridge.configure(hop);
            Buffer head = Buffer.buffer();
            boolean[] upgraded = new boolean[1];
            hop.closeHandler(v -> {
                if (!upgraded[0]) {
                    failed.accept("replica " + owner.replicaId() + " closed the hop");
                }
            });
            hop.handler(buffer -> {
                if (upgraded[0]) {
                    return;
                }
                head.appendBuffer(buffer);
                String text = head.toString(StandardCharsets.ISO_8859_1);
                int endOfHead = text.indexOf("\r\n\r\n");
                if (endOfHead < 0) {
                    if (head.length() > 8192) {
                        hop.close();
                    }
                    return;
                }
                upgraded[0] = true;
                String status = text.substring(0, Math.max(0, text.indexOf("\r\n")));
                if (!status.startsWith("HTTP/1.1 101")) {
                    hop.close();
                    failed.accept("replica " + owner.replicaId() + " answered " + status);
                    return;
                }
                Buffer early = head.getBuffer(endOfHead + 4, head.length());
                splice(socket, hop, key, port, owner, client, started, early);
            });
            hop.write(request);
        });
    }

    private void splice(
            NetSocket socket,
            NetSocket hop,
            ServiceKey key,
            int port,
            OwnerLookup owner,
            String client,
            long started,
            Buffer early) {
        relayedPorts.increment();
        // No bound on the half-closed state here: the owner's bridge decides when the connection ends, and its end
        // closes the hop.
        Splice.start(vertx, socket, hop, early, null, (in, out, timedOut) -> {
            LOG.debugf(
                    "public connection from %s to port %d (%s) relayed to replica %s: %d bytes in, %d out",
                    client, port, key, owner.replicaId(), in, out);
            legs.audit(
                    null,
                    client,
                    "public-port",
                    owner.replicaId(),
                    "relayed",
                    "port " + port + " of " + key,
                    in,
                    out,
                    (System.nanoTime() - started) / 1_000_000);
        });
    }

    /**
     * The relay to {@code owner} failed before a byte moved: the connection waits for the agent to show up elsewhere
     * (or here), as a connection for an away agent does; closed when the agent is unknown.
     */
    private void refused(NetSocket socket, ServiceKey key, int port, String owner, String client, String why) {
        unreachable.increment();
        legs.audit(null, client, "public-port", owner, "owner_unreachable", "port " + port + " of " + key + ": " + why);
        if (expose.relayFailed(socket, key, port, owner)) {
            LOG.warnf(
                    "public connection to port %d (%s): agent's replica %s unreachable (%s); waits for the agent"
                            + " elsewhere",
                    port, key, owner, why);
            return;
        }
        LOG.warnf(
                "public connection to port %d (%s): agent's replica %s unreachable (%s); closed",
                port, key, owner, why);
        socket.close();
    }

    /** The owner's side: a relayed public connection for one of its agents. */
    private void relayed(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        LegRelay.Inbound inbound = legs.inbound(request);
        String agent = request.getParam("agent");
        String service = request.getParam("service");
        if (!inbound.relayed()) {
            LegRelay.text(ctx.response(), 403, "invalid replica relay signature");
            return;
        }
        if (agent == null || service == null || agent.length() > 128 || service.length() > 128) {
            LegRelay.text(ctx.response(), 400, "agent and service are required");
            return;
        }
        if (!UPGRADE.equalsIgnoreCase(request.getHeader("Upgrade"))) {
            LegRelay.text(ctx.response(), 400, "expected Upgrade: " + UPGRADE);
            return;
        }
        if (expose.agent(agent).isEmpty()) {
            LegRelay.text(ctx.response(), 404, "no agent " + agent);
            return;
        }
        request.toNetSocket()
                .onSuccess(socket -> expose.acceptRelayed(socket, agent, service, inbound.clientAddress()))
                .onFailure(t -> {
                    LOG.warnf("relayed public connection for %s/%s: %s", agent, service, t.toString());
                    LegRelay.text(ctx.response(), 500, "cannot take over the connection");
                });
    }

    // ---------------------------------------------------------------- HTTP routes

    /** The client of a route request: the one a relaying replica names (signed), else the peer. */
    public String clientOf(HttpServerRequest request) {
        if (request.getHeader(ClusterAuth.RELAY_HEADER) == null) {
            // not relayed (every request on a single node): the peer, without building the relay check's peer string
            return dev.splitstream.exit.transport.ClientAddress.of(request);
        }
        LegRelay.Inbound inbound = legs.inbound(request);
        return inbound.relayed() ? inbound.clientAddress() : dev.splitstream.exit.transport.ClientAddress.of(request);
    }

    /**
     * For {@code HttpRoutes}: true when the request for {@code agent} was taken here (relayed to the agent's replica,
     * or answered 403/503); false when this replica handles it (its agent, an agent away, or a request another
     * replica relayed here). {@code hub}: a Hub request (counted as such).
     */
    public boolean route(RoutingContext ctx, String agent, boolean hub) {
        if (!legs.enabled()) {
            return false;
        }
        HttpServerRequest request = ctx.request();
        LegRelay.Inbound inbound = legs.inbound(request);
        if (inbound.forged()) {
            request.resume();
            LegRelay.text(ctx.response(), 403, "invalid replica relay signature");
            return true;
        }
        if (inbound.relayed()) {
            return false;
        }
        var owner = expose.remoteOwner(agent);
        if (owner.isEmpty()) {
            return false;
        }
        forward(ctx, owner.get(), inbound.clientAddress(), hub);
        return true;
    }

    /**
     * For {@code HttpRoutes}: a route or Hub request that waited here for {@code agent}, which is back on replica
     * {@code owner}, goes there (relayed like any request for an agent served elsewhere). A request another replica
     * relayed here goes on too: it was waiting here, so it never reached the agent, and it moves only because the
     * agent did (at most once per move, within the queue timeout).
     */
    public void follow(RoutingContext ctx, String agent, String owner, boolean hub) {
        HttpServerRequest request = ctx.request();
        // The relay header was checked when the request arrived (route() refuses a forged one), and may be stale by
        // now: the client it names is taken as it is.
        String relayedFor =
                request.getHeader(ClusterAuth.RELAY_HEADER) == null ? null : request.getHeader(ClusterAuth.FOR_HEADER);
        String client = relayedFor != null ? relayedFor : String.valueOf(request.remoteAddress());
        LOG.infof(
                "%s request %s waiting for agent %s follows it to replica %s",
                hub ? "Hub" : "route", request.method(), agent, owner);
        forward(ctx, owner, client, hub);
    }

    private void forward(RoutingContext ctx, String owner, String client, boolean hub) {
        HttpServerRequest request = ctx.request();
        Context context = vertx.getOrCreateContext();
        registry.replica(owner)
                .onComplete(ar -> context.runOnContext(v -> {
                    OwnerLookup found =
                            ar.succeeded() ? ar.result() : OwnerLookup.unavailable(String.valueOf(ar.cause()));
                    if (found.kind() != OwnerLookup.Kind.OWNER) {
                        unreachable.increment();
                        request.resume();
                        LegRelay.text(
                                ctx.response(), 503, "the replica serving this route is unreachable now; retry later");
                        return;
                    }
                    (hub ? relayedHub : relayedRoutes).increment();
                    legs.forward(ctx, found.url(), client);
                }));
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
