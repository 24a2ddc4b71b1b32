package dev.splitstream.exit.expose;

import dev.splitstream.bridge.BridgeMetrics;
import dev.splitstream.bridge.Listeners;
import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.bridge.StreamEndpoint;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.token.ExposePolicy;
import dev.splitstream.exit.token.TokenPolicy;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.ResetCode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.jboss.logging.Logger;

/**
 * Expose on the exit node: agents announce services, TCP services get public ports held by leases, and connections to
 * an agent's services become streams the exit opens to the agent.
 *
 * <p>The API other features build on (HTTP routes, the Hub):
 *
 * <ul>
 *   <li>{@link #openStream}: a stream to one service of a named agent; while the agent is away (reconnecting, or its
 *       session detached) the request waits, bounded in count (the token's {@code maxQueued}) and time
 *       ({@code splitstream.exit.queue-timeout}), and proceeds when the agent is back;
 *   <li>{@link #agents} and {@link #agent}: what the Hub lists;
 *   <li>{@link #release}: frees an agent's leases at once.
 * </ul>
 *
 * <p>State that outlives sessions (leases, agents) is in the {@link ExposeStore}; live things (which session serves an
 * agent, bound listeners, waiting connections) are here, under this object's lock. Session work always runs on the
 * session's own thread ({@link ExitSession#execute}); no lock is held while it runs.
 */
@ApplicationScoped
public class ExposeService {
    private static final Logger LOG = Logger.getLogger(ExposeService.class);

    private final Vertx vertx;
    private final ExitSettings settings;
    private final TokenRegistry tokens;
    private final ExposeStore store;
    private final Clock clock;
    private final BufferBudget budget;
    private final BridgeMetrics publicMetrics;
    private final Counter refusals;
    private final RouteTokens routeTokens;
    /** For the dashboard's refusals; field-injected, so the constructor others build on stays as it is. */
    @jakarta.inject.Inject
    dev.splitstream.exit.metrics.ExitMetrics exitMetrics;

    /** Agents with a session now, or waiting connections, by name. */
    private final Map<String, Live> live = new HashMap<>();
    /** Bound public listeners, by port. */
    private final Map<Integer, PublicPort> ports = new HashMap<>();

    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicInteger bound = new AtomicInteger();
    private long sweepTimer = -1;
    private volatile Remote remote;

    /** The session serving one agent, and connections waiting for it. */
    private static final class Live {
        final String tokenId;
        ExitSession session;
        final ArrayDeque<Waiter> waiting = new ArrayDeque<>();

        Live(String tokenId) {
            this.tokenId = tokenId;
        }
    }

    private record Waiter(String service, StreamEndpoint endpoint, long timer) {}

    private static final class PublicPort {
        final int port;
        ServiceKey key;
        NetServer server;
        /** The context the server listens from: its connections' event loop (null: one of its own). */
        Context context;

        PublicPort(int port, ServiceKey key) {
            this.port = port;
            this.key = key;
        }
    }

    /** The audit log: one {@code expose} row per public connection (field-injected; absent in unit tests). */
    @jakarta.inject.Inject
    dev.splitstream.exit.registry.ExitRegistry audit;

    public ExposeService(
            Vertx vertx,
            ExitSettings settings,
            TokenRegistry tokens,
            ExposeStore store,
            MeterRegistry registry,
            RouteTokens routeTokens,
            BufferBudget budget) {
        this.vertx = vertx;
        this.routeTokens = routeTokens;
        this.budget = budget;
        this.settings = settings;
        this.tokens = tokens;
        this.store = store;
        this.clock = Clock.systemUTC();
        Gauge.builder("splitstream.exit.expose.ports", bound, AtomicInteger::get)
                .description("Public TCP ports bound (leases of connected and of reconnecting agents)")
                .register(registry);
        Gauge.builder("splitstream.exit.expose.leases", this, s -> s.countLeases(false))
                .tag("state", "connected")
                .description("Port leases, by whether the holder is connected or the lease is counting down")
                .register(registry);
        Gauge.builder("splitstream.exit.expose.leases", this, s -> s.countLeases(true))
                .tag("state", "waiting")
                .description("Port leases, by whether the holder is connected or the lease is counting down")
                .register(registry);
        Gauge.builder("splitstream.exit.expose.queued", queued, AtomicInteger::get)
                .description("Connections waiting for their agent to come back")
                .register(registry);
        Gauge.builder("splitstream.exit.expose.agents", this, s -> s.store.agents().stream()
                        .filter(AgentRecord::connected)
                        .count())
                .description("Agents connected now")
                .register(registry);
        Counter connections = Counter.builder("splitstream.exit.expose.connections")
                .description("Connections accepted on public ports")
                .register(registry);
        Counter in = Counter.builder("splitstream.exit.expose.bytes")
                .tag("direction", "in")
                .description("Bytes through public ports: read from clients (in), written to them (out)")
                .register(registry);
        Counter out = Counter.builder("splitstream.exit.expose.bytes")
                .tag("direction", "out")
                .description("Bytes through public ports: read from clients (in), written to them (out)")
                .register(registry);
        this.refusals = Counter.builder("splitstream.exit.expose.refusals")
                .description("Services refused a grant (policy, range, port taken)")
                .register(registry);
        this.publicMetrics = new BridgeMetrics() {
            @Override
            public void connectionOpened() {
                connections.increment();
            }

            @Override
            public void bytesFromSocket(int bytes) {
                in.increment(bytes);
            }

            @Override
            public void bytesToSocket(int bytes) {
                out.increment(bytes);
            }
        };
    }

    void onStart(@Observes StartupEvent event) {
        long every = Math.max(200, Math.min(1000, settings.expose().lease().toMillis() / 4));
        sweepTimer = vertx.setPeriodic(every, id -> sweep());
        if (store.shared()) {
            store.onChange(() -> vertx.runOnContext(v -> {
                syncListeners();
                followAgents();
            }));
            vertx.runOnContext(v -> syncListeners());
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        if (sweepTimer >= 0) {
            vertx.cancelTimer(sweepTimer);
        }
        List<NetServer> servers;
        synchronized (this) {
            servers = ports.values().stream()
                    .map(p -> p.server)
                    .filter(s -> s != null)
                    .toList();
            ports.clear();
        }
        servers.forEach(NetServer::close);
    }

    private double countLeases(boolean waiting) {
        return store.leases().stream()
                .filter(l -> l.expires().isPresent() == waiting)
                .count();
    }

    // ------------------------------------------------------------------ agents announce

    /**
     * Handles an agent's announcement on {@code session} (on the session's thread): grants or refuses each service,
     * binds public ports, and completes with the answer to send back.
     */
    public Future<Frame.ExposeResult> announce(ExitSession session, Frame.Expose expose) {
        Context sessionContext = Vertx.currentContext();
        String agent = expose.agent();
        String tokenId = session.tokenId();
        ExposePolicy policy = tokens.policy(tokenId).map(TokenPolicy::expose).orElse(ExposePolicy.DENIED);
        if (expose.release()) {
            release(agent, tokenId);
            return Future.succeededFuture(new Frame.ExposeResult(List.of()));
        }
        Optional<String> refusal = admit(session, agent, tokenId, policy);
        if (refusal.isPresent()) {
            LOG.warnf("agent %s (token %s) refused: %s", agent, tokenId, refusal.get());
            List<Frame.Grant> grants = expose.services().stream()
                    .map(s -> refused(s.name(), refusal.get()))
                    .toList();
            return Future.succeededFuture(new Frame.ExposeResult(grants));
        }
        releaseDropped(agent, tokenId, expose);
        List<Future<Frame.Grant>> grants = new ArrayList<>();
        for (Frame.ExposedService service : expose.services()) {
            ServiceKey key = new ServiceKey(tokenId, agent, service.name());
            grants.add(
                    service.kind() == Frame.ServiceKind.TCP
                            ? grantPort(key, service.requestedPort(), policy, new HashSet<>(), 0)
                            : Future.succeededFuture(new Frame.Grant(service.name(), true, 0, "http")));
        }
        return Future.join(grants).map(cf -> {
            List<Frame.Grant> out = new ArrayList<>();
            List<AgentRecord.ServiceRecord> records = new ArrayList<>();
            for (int i = 0; i < grants.size(); i++) {
                Frame.Grant g = grants.get(i).result();
                Frame.ExposedService s = expose.services().get(i);
                out.add(g);
                if (g.granted() && g.publicPort() > 0 && sessionContext != null) {
                    listenFrom(g.publicPort(), new ServiceKey(tokenId, agent, s.name()), sessionContext);
                }
                if (g.granted()) {
                    records.add(new AgentRecord.ServiceRecord(
                            s.name(), s.kind().name().toLowerCase(java.util.Locale.ROOT), s.target(), g.publicPort()));
                    LOG.infof(
                            "agent %s (token %s) exposes %s (%s) %s",
                            agent,
                            tokenId,
                            s.name(),
                            s.target(),
                            g.publicPort() > 0 ? "on public port " + g.publicPort() : "as an HTTP service");
                } else {
                    refusals.increment();
                    if (exitMetrics != null) {
                        exitMetrics.refusal(
                                "expose",
                                "service_refused",
                                "agent " + agent + " (token " + tokenId + "): " + s.name() + ": " + g.detail());
                    }
                    LOG.warnf("agent %s (token %s): %s refused: %s", agent, tokenId, s.name(), g.detail());
                }
            }
            List<Waiter> ready;
            synchronized (this) {
                store.putAgent(new AgentRecord(agent, tokenId, true, clock.instant(), List.copyOf(records)));
                routeTokens.announce(agent, expose.routeToken());
                Live l = live.get(agent);
                ready = l == null || l.session != session ? List.of() : drain(l);
            }
            ready.forEach(w -> {
                if (w.endpoint() instanceof Parked parked) {
                    parked.proceedHere();
                } else {
                    dispatch(session, agent, w.service(), w.endpoint());
                }
            });
            return new Frame.ExposeResult(List.copyOf(out));
        });
    }

    /** Whether this agent may announce at all; takes the agent over from an older session of the same agent. */
    private synchronized Optional<String> admit(
            ExitSession session, String agent, String tokenId, ExposePolicy policy) {
        if (!policy.allowed()) {
            return Optional.of("expose is not allowed for token " + tokenId);
        }
        Optional<AgentRecord> known = store.agent(agent);
        if (known.isPresent() && !known.get().tokenId().equals(tokenId)) {
            return Optional.of("agent name " + agent + " is in use by another token");
        }
        long others = store.agents().stream()
                .filter(a -> a.tokenId().equals(tokenId) && !a.name().equals(agent))
                .count();
        if (known.isEmpty() && others >= policy.maxAgents()) {
            return Optional.of(
                    "token " + tokenId + " already has " + others + " agents (max " + policy.maxAgents() + ")");
        }
        Live l = live.computeIfAbsent(agent, a -> new Live(tokenId));
        ExitSession old = l.session;
        l.session = session;
        session.servesAgent(agent);
        if (old != null && old != session) {
            LOG.infof("agent %s moved to session %s; closing its old session %s", agent, session.idHex(), old.idHex());
            old.close(CloseCode.GOING_AWAY, "agent " + agent + " reconnected with a new session");
        }
        return Optional.empty();
    }

    /** Services the agent announced before and no longer lists: their ports are freed. */
    private void releaseDropped(String agent, String tokenId, Frame.Expose expose) {
        Set<String> now = new HashSet<>();
        expose.services().forEach(s -> now.add(s.name()));
        List<ServiceKey> dropped = new ArrayList<>();
        synchronized (this) {
            for (Lease lease : store.leases()) {
                ServiceKey k = lease.key();
                if (k.agent().equals(agent) && k.tokenId().equals(tokenId) && !now.contains(k.service())) {
                    dropped.add(k);
                }
            }
        }
        dropped.forEach(this::releaseKey);
    }

    private Future<Frame.Grant> grantPort(
            ServiceKey key, int requested, ExposePolicy policy, Set<Integer> avoid, int attempt) {
        String name = key.service();
        Optional<ExitSettings.PortRange> range = settings.expose().publicPorts();
        if (range.isEmpty()) {
            return Future.succeededFuture(
                    refused(name, "public TCP ports are off on this exit (SPLITSTREAM_EXIT_PUBLIC_PORTS is not set)"));
        }
        int low = Math.max(range.get().low(), policy.lowPort());
        int high = Math.min(range.get().high(), policy.highPort());
        if (low > high) {
            return Future.succeededFuture(
                    refused(name, "token " + key.tokenId() + " has no public ports on this exit"));
        }
        if (requested != 0 && (requested < low || requested > high)) {
            return Future.succeededFuture(
                    refused(name, "port " + requested + " is outside the allowed range " + low + "-" + high));
        }
        Future<ExposeStore.Claim> claimed;
        synchronized (this) {
            long held = store.leases().stream()
                    .filter(l -> l.key().tokenId().equals(key.tokenId())
                            && !l.key().equals(key)
                            && !l.expiredAt(clock.instant()))
                    .count();
            if (store.lease(key).isEmpty() && held >= policy.maxPorts()) {
                return Future.succeededFuture(refused(
                        name,
                        "token " + key.tokenId() + " already holds " + held + " public ports (max " + policy.maxPorts()
                                + ")"));
            }
            // In memory: decided now. With replicas: a lease this replica knows is renewed now, a new one is decided
            // by the database, later, off this thread.
            claimed = store.acquire(key, requested, low, high, avoid, clock.instant());
        }
        return claimed.compose(claim -> {
            if (claim.lease().isEmpty()) {
                String why =
                        switch (claim.refusal().get()) {
                            case PORT_TAKEN -> "port " + requested + " is leased to another agent";
                            case RANGE_FULL -> "no free public port in " + low + "-" + high;
                            case UNAVAILABLE -> claim.detail();
                        };
                return Future.succeededFuture(refused(name, why));
            }
            return bindGranted(key, claim.lease().get().port(), requested, policy, avoid, attempt);
        });
    }

    private Future<Frame.Grant> bindGranted(
            ServiceKey key, int port, int requested, ExposePolicy policy, Set<Integer> avoid, int attempt) {
        String name = key.service();
        return bind(port, key)
                .map(v -> new Frame.Grant(name, true, port, "tcp://" + publicHost() + ":" + port))
                .recover(t -> {
                    store.release(key);
                    if (requested != 0 || attempt >= 16) {
                        return Future.succeededFuture(
                                refused(name, "port " + port + " cannot be bound on the exit: " + t.getMessage()));
                    }
                    LOG.infof("public port %d cannot be bound (%s); trying another", port, t.getMessage());
                    avoid.add(port);
                    return grantPort(key, 0, policy, avoid, attempt + 1);
                });
    }

    private String publicHost() {
        return settings.expose().publicHost();
    }

    /** A listener on {@code port} for {@code key}: kept when it is already bound (a lease's listener stays up). */
    private Future<Void> bind(int port, ServiceKey key) {
        NetServer stale = null;
        synchronized (this) {
            PublicPort p = ports.get(port);
            if (p != null && p.key.equals(key)) {
                return Future.succeededFuture();
            }
            if (p != null) {
                ports.remove(port);
                stale = p.server;
            }
            ports.put(port, new PublicPort(port, key));
        }
        Future<Void> closed = stale == null ? Future.succeededFuture() : stale.close();
        if (stale != null) {
            bound.decrementAndGet();
        }
        return closed.compose(v -> Listeners.listen(vertx, publicHost(), port, socket -> accepted(port, socket)))
                .map(server -> {
                    boolean keep;
                    synchronized (this) {
                        PublicPort p = ports.get(port);
                        keep = p != null && p.key.equals(key) && p.server == null;
                        if (keep) {
                            p.server = server;
                        }
                    }
                    if (!keep) {
                        server.close();
                        throw new IllegalStateException("port " + port + " was released while binding");
                    }
                    bound.incrementAndGet();
                    return (Void) null;
                })
                .onFailure(t -> {
                    synchronized (this) {
                        PublicPort p = ports.get(port);
                        if (p != null && p.key.equals(key) && p.server == null) {
                            ports.remove(port);
                        }
                    }
                });
    }

    /**
     * Moves the listener of {@code port} to {@code context} (the agent's session's), so its connections live on the
     * session's event loop: a byte goes socket → stream → transport on one thread, as on the entry's forward listeners,
     * instead of hopping between event loops twice per read (bench/tunnel.sh measured public ports at 0.05x of the
     * forward path with one connection). Vert.x shares one bound socket between servers on the same host and port, so
     * the port never closes: the new server listens, then the old one closes. The listener stays on that event loop
     * after the session ends (an event loop outlives any session); the agent's next session takes it again.
     */
    private void listenFrom(int port, ServiceKey key, Context context) {
        synchronized (this) {
            PublicPort p = ports.get(port);
            if (p == null || !p.key.equals(key) || p.server == null || p.context == context) {
                return;
            }
        }
        Listeners.listen(vertx, context, publicHost(), port, socket -> accepted(port, socket))
                .onComplete(ar -> {
                    if (ar.failed()) {
                        LOG.debugf(
                                "public port %d stays on its event loop: %s",
                                port, ar.cause().toString());
                        return;
                    }
                    NetServer old = null;
                    boolean keep;
                    synchronized (this) {
                        PublicPort p = ports.get(port);
                        keep = p != null && p.key.equals(key) && p.server != null;
                        if (keep) {
                            old = p.server;
                            p.server = ar.result();
                            p.context = context;
                        }
                    }
                    (keep ? old : ar.result()).close();
                    if (keep) {
                        LOG.debugf(
                                "public port %d listens from the event loop of agent %s's session", port, key.agent());
                    }
                });
    }

    private void accepted(int port, io.vertx.core.net.NetSocket socket) {
        ServiceKey key;
        synchronized (this) {
            PublicPort p = ports.get(port);
            key = p == null ? null : p.key;
        }
        if (key == null) {
            socket.close();
            return;
        }
        Optional<String> owner = remote == null ? Optional.empty() : remoteOwner(key.agent());
        if (owner.isPresent()) {
            remote.relayPort(socket, key, port, owner.get());
            return;
        }
        if (remote != null && park(socket, key, port)) {
            return;
        }
        bridge(socket, key, "public port " + port);
    }

    /**
     * With replicas, a public connection for an agent that is away waits as a raw socket (a {@link Parked}), so that
     * it can still be relayed when the agent comes back to another replica ({@link #followAgents}). False when the
     * agent is here (or unknown): bridge the connection at once. On the socket's thread.
     */
    private boolean park(io.vertx.core.net.NetSocket socket, ServiceKey key, int port) {
        return parkUnlessHere(key, () -> new Parked(socket, key, port)) == Parking.PARKED;
    }

    /** What {@link #parkUnlessHere} did. */
    private enum Parking {
        /** The agent or its service is unknown: nothing to wait for. */
        UNKNOWN,
        /** The agent is attached here: the connection can go to it now. */
        AGENT_HERE,
        /** Queued for the agent. */
        PARKED
    }

    /**
     * Queues the connection {@code parked} makes for {@code key}'s agent, unless the agent or its service is unknown or
     * the agent is attached here; {@code parked} runs only when it is queued.
     */
    private synchronized Parking parkUnlessHere(ServiceKey key, java.util.function.Supplier<Parked> parked) {
        Optional<AgentRecord> known = store.agent(key.agent());
        if (known.isEmpty()
                || known.get().services().stream().noneMatch(s -> s.name().equals(key.service()))) {
            return Parking.UNKNOWN;
        }
        Live l = live.get(key.agent());
        if (l != null && l.session != null && !l.session.isDetached()) {
            return Parking.AGENT_HERE;
        }
        l = live.computeIfAbsent(key.agent(), a -> new Live(known.get().tokenId()));
        enqueue(l, key.agent(), key.service(), parked.get());
        return Parking.PARKED;
    }

    /**
     * With replicas: a public connection relayed to replica {@code owner} could not go there (the replica is dead or
     * unreachable, or no longer holds the agent) before a byte moved. Like a connection that arrived while its agent was
     * away, it waits for the agent (bounded by the queue's size and timeout) and follows it once it shows up on this or
     * another replica, never on {@code owner} again. False when the agent or its service is unknown: close it. On the
     * socket's thread.
     */
    public boolean relayFailed(io.vertx.core.net.NetSocket socket, ServiceKey key, int port, String owner) {
        if (socket instanceof io.vertx.core.net.impl.NetSocketInternal internal
                && !internal.channelHandlerContext().channel().isActive()) {
            return false; // the client left meanwhile
        }
        Parking parking = parkUnlessHere(key, () -> new Parked(socket, key, port, owner));
        if (parking == Parking.UNKNOWN) {
            return false;
        }
        if (parking == Parking.AGENT_HERE) {
            // the agent came back to this replica meanwhile
            reading(socket, false);
            bridge(socket, key, "public port " + port);
        }
        return true;
    }

    /** {@code endpoint} is a parked connection whose relay to {@code owner} failed already. */
    private static boolean avoids(StreamEndpoint endpoint, String owner) {
        return endpoint instanceof Parked p && owner.equals(p.avoid);
    }

    /**
     * With replicas: connections and requests waiting for an agent that is now served by another replica follow it there
     * (relayed), instead of waiting here for a return that may never come. Runs after each import of the shared state.
     */
    private void followAgents() {
        if (remote == null) {
            return;
        }
        List<Map.Entry<Follower, String>> moving = new ArrayList<>();
        synchronized (this) {
            for (var agents = live.entrySet().iterator(); agents.hasNext(); ) {
                Map.Entry<String, Live> e = agents.next();
                Live l = e.getValue();
                if (l.waiting.isEmpty() || (l.session != null && !l.session.isDetached())) {
                    continue;
                }
                Optional<String> owner = store.remoteOwner(e.getKey());
                if (owner.isEmpty()) {
                    continue;
                }
                for (var waiters = l.waiting.iterator(); waiters.hasNext(); ) {
                    Waiter w = waiters.next();
                    if (avoids(w.endpoint(), owner.get())) {
                        continue; // a relay there failed: it waits for the agent to show up elsewhere
                    }
                    if (w.endpoint() instanceof Follower follower) {
                        waiters.remove();
                        vertx.cancelTimer(w.timer());
                        queued.decrementAndGet();
                        if (!w.endpoint().isAbandoned()) {
                            moving.add(Map.entry(follower, owner.get()));
                        }
                    }
                }
                if (l.waiting.isEmpty() && l.session == null) {
                    agents.remove();
                }
            }
        }
        moving.forEach(m -> m.getKey().follow(m.getValue()));
    }

    /**
     * A connection or request waiting for an agent that can go on to another replica by itself: a parked public
     * connection ({@link Parked}), or an HTTP route or Hub request whose client has sent nothing to the agent yet. With
     * replicas, it follows its agent to the replica the agent came back to.
     */
    public interface Follower {
        /** The agent is served by replica {@code owner} now: go there. Called at most once, from any thread. */
        void follow(String owner);
    }

    /**
     * A public connection waiting for its agent, not reading: it proceeds here when the agent comes back to this
     * replica ({@link #proceedHere}), follows it to another one ({@link #follow}), or is refused like any waiting
     * stream ({@link #onOpenFailed}: queue full, timeout, agent released). Never given to a session as an endpoint.
     */
    private final class Parked implements StreamEndpoint, Follower {
        final io.vertx.core.net.NetSocket socket;
        final ServiceKey key;
        final int port;
        /** A replica a relay to failed (dead, or without the agent by then): not followed there again; or null. */
        final String avoid;

        final Context context;
        volatile boolean closed;

        Parked(io.vertx.core.net.NetSocket socket, ServiceKey key, int port) {
            this(socket, key, port, null);
        }

        Parked(io.vertx.core.net.NetSocket socket, ServiceKey key, int port, String avoid) {
            this.socket = socket;
            this.key = key;
            this.port = port;
            this.avoid = avoid;
            this.context = vertx.getOrCreateContext();
            reading(socket, false);
            socket.closeHandler(v -> closed = true);
            socket.exceptionHandler(t -> socket.close());
        }

        void proceedHere() {
            context.runOnContext(v -> {
                if (!closed) {
                    bridge(socket, key, "public port " + port);
                }
            });
        }

        @Override
        public void follow(String owner) {
            LOG.infof("connection to port %d waiting for agent %s follows it to replica %s", port, key.agent(), owner);
            context.runOnContext(v -> {
                if (!closed) {
                    reading(socket, true);
                    remote.relayPort(socket, key, port, owner);
                }
            });
        }

        @Override
        public boolean isAbandoned() {
            return closed;
        }

        @Override
        public void onOpenFailed(ResetCode code, String message) {
            context.runOnContext(v -> {
                if (!closed) {
                    publicBridge(socket, key, "public port " + port).open(e -> e.onOpenFailed(code, message));
                }
            });
        }

        @Override
        public void onOpen(dev.splitstream.protocol.Stream stream) {
            throw new IllegalStateException("a parked connection is never given a stream");
        }

        @Override
        public void onData(dev.splitstream.protocol.Stream stream, java.nio.ByteBuffer data) {
            throw new IllegalStateException("a parked connection is never given a stream");
        }

        @Override
        public void onFin(dev.splitstream.protocol.Stream stream) {
            throw new IllegalStateException("a parked connection is never given a stream");
        }

        @Override
        public void onReset(dev.splitstream.protocol.Stream stream, ResetCode code, String message) {
            throw new IllegalStateException("a parked connection is never given a stream");
        }
    }

    /** Stops or restarts reading {@code socket} with its channel's AUTO_READ, as {@link SocketBridge} does. */
    private static void reading(io.vertx.core.net.NetSocket socket, boolean on) {
        if (socket instanceof io.vertx.core.net.impl.NetSocketInternal internal) {
            internal.channelHandlerContext().channel().config().setAutoRead(on);
        } else if (on) {
            socket.resume();
        } else {
            socket.pause();
        }
    }

    private void bridge(io.vertx.core.net.NetSocket socket, ServiceKey key, String via) {
        publicBridge(socket, key, via).open(endpoint -> openStream(key.agent(), key.service(), endpoint));
    }

    private SocketBridge publicBridge(io.vertx.core.net.NetSocket socket, ServiceKey key, String via) {
        return new SocketBridge(
                socket,
                "public connection",
                "agent " + key.agent() + " service " + key.service() + " (" + via + ")",
                audited(socket, key, via),
                SocketBridge.PLAIN,
                budget);
    }

    /**
     * The public ports' meters, plus this connection's own byte counts for its {@code expose} row in the audit log,
     * written when it closes: client address, {@code <via> of <token>/<agent>/<service>}, bytes each way, duration.
     */
    private BridgeMetrics audited(io.vertx.core.net.NetSocket socket, ServiceKey key, String via) {
        dev.splitstream.exit.registry.ExitRegistry log = audit;
        if (log == null) {
            return publicMetrics;
        }
        io.vertx.core.net.SocketAddress remoteAddress = socket.remoteAddress();
        String client = remoteAddress == null
                ? null
                : remoteAddress.hostAddress() != null ? remoteAddress.hostAddress() : remoteAddress.toString();
        long started = System.nanoTime();
        java.util.concurrent.atomic.AtomicLong in = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong out = new java.util.concurrent.atomic.AtomicLong();
        return new BridgeMetrics() {
            @Override
            public void connectionOpened() {
                publicMetrics.connectionOpened();
            }

            @Override
            public void connectionClosed() {
                publicMetrics.connectionClosed();
                log.audit(new dev.splitstream.exit.registry.AuditEvent(
                        java.time.Instant.now(),
                        "expose",
                        null,
                        key.tokenId(),
                        client,
                        "public-port",
                        via + " of " + key,
                        in.get(),
                        out.get(),
                        "closed",
                        (System.nanoTime() - started) / 1_000_000,
                        null));
            }

            @Override
            public void bytesFromSocket(int bytes) {
                publicMetrics.bytesFromSocket(bytes);
                in.addAndGet(bytes);
            }

            @Override
            public void bytesToSocket(int bytes) {
                publicMetrics.bytesToSocket(bytes);
                out.addAndGet(bytes);
            }
        };
    }

    // ------------------------------------------------------------------ replicas

    /** Where public connections of agents served by other replicas go ({@code exit.relay}). */
    public interface Remote {
        /** Relays {@code socket}, accepted on {@code port} for {@code key}, to replica {@code owner}. */
        void relayPort(io.vertx.core.net.NetSocket socket, ServiceKey key, int port, String owner);
    }

    /** Sets where connections for agents of other replicas go (at start-up, with a shared registry). */
    public void remote(Remote remote) {
        this.remote = remote;
    }

    /**
     * The other live replica serving {@code agent} now, when its session is not here (or is here but detached, and the
     * agent has since started a new session on another replica).
     */
    public Optional<String> remoteOwner(String agent) {
        synchronized (this) {
            Live l = live.get(agent);
            if (l != null && l.session != null && !l.session.isDetached()) {
                return Optional.empty();
            }
        }
        return store.remoteOwner(agent);
    }

    /** A public connection another replica relayed here (this replica serves the agent): as if accepted here. */
    public void acceptRelayed(io.vertx.core.net.NetSocket socket, String agent, String service, String from) {
        Optional<AgentRecord> known = store.agent(agent);
        if (known.isEmpty()) {
            socket.close();
            return;
        }
        SocketBridge.configure(socket); // half-close and TCP_NODELAY, as for sockets of public ports
        bridge(socket, new ServiceKey(known.get().tokenId(), agent, service), "relayed for " + from);
    }

    /**
     * With replicas, every replica binds every leased port (on its own public host), so a client reaches the port on
     * any of them; a connection for an agent served elsewhere is relayed. Runs after each import.
     */
    private void syncListeners() {
        Instant now = clock.instant();
        Map<Integer, ServiceKey> wanted = new HashMap<>();
        for (Lease l : store.leases()) {
            if (!l.expiredAt(now)) {
                wanted.put(l.port(), l.key());
            }
        }
        List<ServiceKey> stale = new ArrayList<>();
        List<Map.Entry<Integer, ServiceKey>> missing = new ArrayList<>();
        synchronized (this) {
            for (PublicPort p : ports.values()) {
                if (!p.key.equals(wanted.get(p.port))) {
                    stale.add(p.key);
                }
            }
            for (Map.Entry<Integer, ServiceKey> w : wanted.entrySet()) {
                PublicPort p = ports.get(w.getKey());
                if (p == null || !p.key.equals(w.getValue())) {
                    missing.add(w);
                }
            }
        }
        stale.forEach(this::closeListenerOf);
        for (Map.Entry<Integer, ServiceKey> w : missing) {
            bind(w.getKey(), w.getValue())
                    .onSuccess(v -> LOG.infof(
                            "public port %d of %s (leased through the registry) bound here", w.getKey(), w.getValue()))
                    .onFailure(t -> LOG.warnf(
                            "public port %d of %s cannot be bound here: %s", w.getKey(), w.getValue(), t.getMessage()));
        }
    }

    private static Frame.Grant refused(String name, String why) {
        return new Frame.Grant(name, false, 0, why);
    }

    // ------------------------------------------------------------------ agents leave

    /** A session ended; if it served an agent, its leases start counting down and new connections wait. */
    public void sessionClosed(ExitSession session) {
        String agent = session.agent();
        if (agent == null) {
            return;
        }
        synchronized (this) {
            Live l = live.get(agent);
            if (l == null || l.session != session) {
                return;
            }
            l.session = null;
            Instant now = clock.instant();
            Instant until = now.plus(settings.expose().lease());
            store.agent(agent).ifPresent(a -> store.putAgent(a.withConnected(false, now)));
            for (Lease lease : store.leases()) {
                if (lease.key().agent().equals(agent) && lease.key().tokenId().equals(l.tokenId)) {
                    store.disconnect(lease.key(), until);
                }
            }
            if (l.waiting.isEmpty()) {
                live.remove(agent);
            }
        }
        LOG.infof(
                "agent %s disconnected; its ports are kept until %s",
                agent, clock.instant().plus(settings.expose().lease()));
    }

    /**
     * Frees every lease of {@code agent} now and forgets it; connections waiting for it fail. For an agent stopped
     * with its release flag, and for the Hub.
     *
     * @return false when no such agent (of this token, when {@code tokenId} is not null) is known
     */
    public boolean release(String agent, String tokenId) {
        List<ServiceKey> keys = new ArrayList<>();
        List<Waiter> failed;
        synchronized (this) {
            Optional<AgentRecord> known = store.agent(agent);
            if (known.isEmpty() || (tokenId != null && !known.get().tokenId().equals(tokenId))) {
                return false;
            }
            for (Lease lease : store.leases()) {
                if (lease.key().agent().equals(agent)
                        && lease.key().tokenId().equals(known.get().tokenId())) {
                    keys.add(lease.key());
                }
            }
            store.removeAgent(agent);
            routeTokens.forget(agent);
            Live l = live.remove(agent);
            failed = l == null ? List.of() : drain(l);
            if (l != null && l.session != null) {
                l.session.servesAgent(null);
            }
        }
        keys.forEach(this::releaseKey);
        failed.forEach(w -> w.endpoint().onOpenFailed(ResetCode.CONNECT_FAILED, "agent " + agent + " was released"));
        LOG.infof("agent %s released %d public ports", agent, keys.size());
        return true;
    }

    private void releaseKey(ServiceKey key) {
        store.release(key);
        closeListenerOf(key);
    }

    private void closeListenerOf(ServiceKey key) {
        NetServer server = null;
        synchronized (this) {
            for (PublicPort p : List.copyOf(ports.values())) {
                if (p.key.equals(key)) {
                    ports.remove(p.port);
                    server = p.server;
                }
            }
        }
        if (server != null) {
            bound.decrementAndGet();
            server.close();
        }
    }

    /**
     * Leases that ran out free their ports; agents away for longer than the lease, without leases, are forgotten and
     * connections waiting for them fail.
     */
    private void sweep() {
        Instant now = clock.instant();
        List<Lease> expired = store.expire(now);
        for (Lease lease : expired) {
            LOG.infof("lease of port %d by %s expired", lease.port(), lease.key());
            closeListenerOf(lease.key());
        }
        List<Waiter> failed = new ArrayList<>();
        synchronized (this) {
            Set<String> holding = new HashSet<>();
            store.leases().forEach(l -> holding.add(l.key().agent()));
            Instant forgetBefore = now.minus(settings.expose().lease());
            for (AgentRecord a : store.agents()) {
                Live l = live.get(a.name());
                boolean connected = l != null && l.session != null;
                if (!connected
                        && !a.connected()
                        && !holding.contains(a.name())
                        && a.lastSeen().isBefore(forgetBefore)) {
                    store.removeAgent(a.name());
                    routeTokens.forget(a.name());
                    if (l != null) {
                        failed.addAll(drain(l));
                        live.remove(a.name());
                    }
                }
            }
        }
        failed.forEach(w -> w.endpoint().onOpenFailed(ResetCode.CONNECT_FAILED, "the agent's lease expired"));
    }

    // ------------------------------------------------------------------ streams to agents

    /**
     * Opens a stream to {@code service} of {@code agent} for {@code endpoint}, as if the agent's service had been
     * dialed: {@link StreamEndpoint#onOpen} then {@code onAccepted} (the agent connected its target) or
     * {@code onReset}; or {@link StreamEndpoint#onOpenFailed} (unknown agent or service, queue full, or the agent did
     * not come back within the queue timeout). While the agent is away the request waits. Any thread; the endpoint's
     * callbacks run on the agent's session thread (onOpenFailed possibly on another event loop).
     */
    public void openStream(String agent, String service, StreamEndpoint endpoint) {
        ExitSession session;
        synchronized (this) {
            Optional<AgentRecord> known = store.agent(agent);
            if (known.isEmpty()) {
                session = null;
            } else if (known.get().services().stream().noneMatch(s -> s.name().equals(serviceName(service)))) {
                endpoint.onOpenFailed(ResetCode.NOT_ALLOWED, "agent " + agent + " has no service " + service);
                return;
            } else {
                Live l = live.computeIfAbsent(agent, a -> new Live(known.get().tokenId()));
                if (l.session == null) {
                    enqueue(l, agent, service, endpoint);
                    return;
                }
                session = l.session;
            }
        }
        if (session == null) {
            endpoint.onOpenFailed(ResetCode.NOT_ALLOWED, "no agent " + agent);
            return;
        }
        dispatch(session, agent, service, endpoint);
    }

    /** The service part of {@code service}: an HTTP route may add {@code |scheme://host:port} (X-Host) for the agent. */
    private static String serviceName(String service) {
        int bar = service.indexOf('|');
        return bar < 0 ? service : service.substring(0, bar);
    }

    private void dispatch(ExitSession session, String agent, String service, StreamEndpoint endpoint) {
        session.execute(() -> {
            if (!session.openStream(service, endpoint)) {
                // The session is detached (the agent reconnects) or ended: wait for it like any other.
                synchronized (this) {
                    Live l = live.computeIfAbsent(agent, a -> new Live(session.tokenId()));
                    if (l.session == session && session.isClosed()) {
                        l.session = null;
                    }
                    enqueue(l, agent, service, endpoint);
                }
            }
        });
    }

    /** Call under the lock. */
    private void enqueue(Live l, String agent, String service, StreamEndpoint endpoint) {
        if (remote != null && endpoint instanceof Follower follower) {
            // The agent is away from here but known to be back on another replica (imported before this request got
            // here, so no later import would move it): it goes there now.
            Optional<String> owner = store.remoteOwner(agent);
            if (owner.isPresent() && !avoids(endpoint, owner.get())) {
                follower.follow(owner.get());
                return;
            }
        }
        int max = tokens.policy(l.tokenId).map(p -> p.expose().maxQueued()).orElse(0);
        l.waiting.removeIf(w -> {
            if (w.endpoint().isAbandoned()) {
                vertx.cancelTimer(w.timer());
                queued.decrementAndGet();
                return true;
            }
            return false;
        });
        if (l.waiting.size() >= max) {
            vertx.runOnContext(v -> endpoint.onOpenFailed(
                    ResetCode.TOO_MANY_STREAMS,
                    "agent " + agent + " is away and " + max + " connections already wait for it"));
            return;
        }
        long ms = settings.expose().queueTimeout().toMillis();
        Waiter[] self = new Waiter[1];
        long timer = vertx.setTimer(ms, id -> {
            boolean removed;
            synchronized (this) {
                removed = l.waiting.remove(self[0]);
                if (removed) {
                    queued.decrementAndGet();
                }
            }
            if (removed) {
                endpoint.onOpenFailed(ResetCode.TIMEOUT, "agent " + agent + " did not come back within " + ms + "ms");
            }
        });
        self[0] = new Waiter(service, endpoint, timer);
        l.waiting.add(self[0]);
        queued.incrementAndGet();
    }

    /** Call under the lock: takes every waiter out. */
    private List<Waiter> drain(Live l) {
        List<Waiter> out = new ArrayList<>();
        Waiter w;
        while ((w = l.waiting.poll()) != null) {
            vertx.cancelTimer(w.timer());
            queued.decrementAndGet();
            out.add(w);
        }
        return out;
    }

    // ------------------------------------------------------------------ listing

    /** Every known agent (connected, or away with leases), by name. */
    public List<AgentRecord> agents() {
        return store.agents();
    }

    /** The agent named {@code name}. */
    public Optional<AgentRecord> agent(String name) {
        return store.agent(name);
    }

    /** Current leases, for stats. */
    public List<Lease> leases() {
        return store.leases();
    }

    /** The session serving {@code agent} now, if it is connected. Any thread. */
    public synchronized Optional<ExitSession> sessionOf(String agent) {
        Live l = live.get(agent);
        return l == null ? Optional.empty() : Optional.ofNullable(l.session);
    }

    /** Connections waiting for an agent now. */
    public int queuedConnections() {
        return queued.get();
    }
}
