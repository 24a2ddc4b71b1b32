package dev.splitstream.exit.route;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.splitstream.exit.config.SplitstreamConfig;
import dev.splitstream.exit.expose.AgentRecord;
import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.exit.expose.RouteTokens;
import dev.splitstream.exit.registry.AuditEvent;
import dev.splitstream.exit.registry.ExitRegistry;
import dev.splitstream.exit.relay.ExposeRelay;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.RoutePassword;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.FrameCodec;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.Attribute;
import io.netty.util.AttributeKey;
import io.quarkus.arc.ClientProxy;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.InetAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jboss.logging.Logger;

/**
 * HTTP routes, the Hub API and {@code /_stats} on the exit's HTTP port. A request reaches an agent's HTTP service by
 * {@code /_token/<route token>/...} (the prefix is stripped), by an {@code X-Token} header, or by a host route
 * {@code <service>.<http domain>}; the Hub forwards {@code /hub/v1/agents/{agent}/services/{service}/...}. Everything
 * else (the tunnel's own paths) passes on untouched. An unknown route is a plain 404 that does not say which tokens or
 * agents exist.
 */
@ApplicationScoped
public class HttpRoutes {
    private static final Logger LOG = Logger.getLogger(HttpRoutes.class);
    static final String TOKEN_PREFIX = "/_token/";
    static final String HUB = "/hub/v1/agents";
    static final String STATS = "/_stats";

    private final ExposeService expose;
    private final RouteTokens tokens;
    private final SessionRegistry sessions;
    private final Optional<String> domain;
    private final Optional<byte[]> hubToken;
    private final MeterRegistry registry;
    /**
     * Request timers by status class: 1xx .. 5xx at 0 .. 4, anything else at 5. 2xx .. 5xx are registered at start,
     * the others on first use (registering again returns the same timer, so a race is harmless).
     */
    private final Timer[] timers = new Timer[6];

    private final AtomicInteger active = new AtomicInteger();
    private final ObjectMapper json = new ObjectMapper();
    private final RequestLog requestLog;
    private final ExposeRelay relay;
    private final RoutePool pool;
    private final TokenRegistry tokenPolicies;
    /** Field-injected: the hook that reports requests to agents stays out of the constructor's signature. */
    @jakarta.inject.Inject
    AgentReports agentReports;
    /** Field-injected as well: the audit log (registry) takes one row per route request. */
    @jakarta.inject.Inject
    ExitRegistry audit;

    public HttpRoutes(
            ExposeService expose,
            RouteTokens tokens,
            SessionRegistry sessions,
            SplitstreamConfig config,
            MeterRegistry registry,
            RequestLog requestLog,
            RoutePool pool,
            TokenRegistry tokenPolicies,
            ExposeRelay relay) {
        // Every route request calls these several times: through ArC's client proxies each call looked its bean up
        // in the application context first (4% of the exit's event-loop samples in bench/routes.sh).
        this.tokenPolicies = ClientProxy.unwrap(tokenPolicies);
        this.requestLog = ClientProxy.unwrap(requestLog);
        this.pool = ClientProxy.unwrap(pool);
        this.relay = ClientProxy.unwrap(relay);
        this.expose = ClientProxy.unwrap(expose);
        this.tokens = ClientProxy.unwrap(tokens);
        this.sessions = ClientProxy.unwrap(sessions);
        this.domain = config.exit()
                .httpDomain()
                .map(d -> d.trim().toLowerCase(Locale.ROOT))
                .filter(d -> !d.isEmpty())
                .map(d -> d.startsWith(".") ? d.substring(1) : d);
        this.hubToken = config.exit().hubToken().filter(t -> !t.isBlank()).map(t -> t.getBytes(StandardCharsets.UTF_8));
        this.registry = registry;
        Gauge.builder("splitstream.exit.route.routes", tokens, RouteTokens::size)
                .description("Token routes (agents with a route token)")
                .register(registry);
        Gauge.builder("splitstream.exit.route.active", active, AtomicInteger::get)
                .description("HTTP requests through routes in flight")
                .register(registry);
        // The classes a dashboard graphs exist from the start (at zero), not only after the first such request.
        for (int i = 1; i < 5; i++) {
            timers[i] = registerTimer(i);
        }
    }

    @PostConstruct
    void unwrapInjected() {
        agentReports = ClientProxy.unwrap(agentReports);
        audit = ClientProxy.unwrap(audit);
    }

    void routes(@Observes Router router) {
        router.route().order(-1000).handler(this::dispatch);
    }

    private void dispatch(RoutingContext ctx) {
        if (refusedFraming(ctx)) {
            return; // on any path of the HTTP port: nothing behind it reads such a request correctly
        }
        HttpServerRequest req = ctx.request();
        String path = req.path() == null ? "" : req.path();
        if (path.equals(STATS)) {
            stats(ctx);
            return;
        }
        if (path.equals(HUB) || path.startsWith(HUB + "/")) {
            hub(ctx, path.substring(HUB.length()));
            return;
        }
        if (path.startsWith(TOKEN_PREFIX) || path.equals(TOKEN_PREFIX.substring(0, TOKEN_PREFIX.length() - 1))) {
            String rest = path.length() > TOKEN_PREFIX.length() ? path.substring(TOKEN_PREFIX.length()) : "";
            int slash = rest.indexOf('/');
            String token = slash < 0 ? rest : rest.substring(0, slash);
            String tail = slash < 0 ? "/" : rest.substring(slash);
            Optional<String> agent = agentFor(req, token);
            if (agent.isEmpty()) {
                notFound(ctx);
                return;
            }
            proxyToFirstHttp(ctx, agent.get(), withQuery(tail, req), tail);
            return;
        }
        String headerToken = req.getHeader("X-Token");
        if (headerToken != null) {
            Optional<String> agent = agentFor(req, headerToken.trim());
            if (agent.isEmpty()) {
                notFound(ctx);
                return;
            }
            proxyToFirstHttp(ctx, agent.get(), req.uri(), path);
            return;
        }
        Optional<String> service = hostRoute(req);
        if (service.isPresent()) {
            Optional<AgentRecord> owner = expose.agents().stream()
                    .filter(a -> a.services().stream()
                            .anyMatch(s -> s.kind().equals("http") && s.name().equals(service.get())))
                    .min(java.util.Comparator.comparing(AgentRecord::name));
            if (owner.isEmpty()) {
                notFound(ctx);
                return;
            }
            proxy(ctx, owner.get(), service.get(), req.uri(), path, RequestLog.Via.HOST);
            return;
        }
        ctx.next();
    }

    /**
     * Refuses, as nginx does, what Vert.x's decoder lets through but a reverse proxy must not forward (RFC 9112): an
     * HTTP version other than 1.0 and 1.1 ({@code 505}; the decoder accepts any {@code HTTP/x.y}, and Vert.x names no
     * version for it), and a transfer coding other than {@code chunked} ({@code 501}, RFC 9112 6.1; the decoder treats
     * such a request as bodyless, so its body would be read as the next request: 6.3 says to close), and an HTTP/1.0
     * request with both {@code Content-Length} and {@code Transfer-Encoding} ({@code 400}, RFC 9112 6.3). The connection
     * is closed after the answer. True when the request was refused.
     */
    private static boolean refusedFraming(RoutingContext ctx) {
        HttpServerRequest req = ctx.request();
        int status = 0;
        String message = null;
        if (req.version() == null) {
            status = 505;
            message = "only HTTP/1.0 and HTTP/1.1 are supported";
        } else {
            String te = req.getHeader("Transfer-Encoding");
            if (te != null && req.headers().contains("Content-Length")) {
                // RFC 9112 6.3: a length and a transfer coding together may smuggle a request past a proxy. HTTP/1.1
                // requests of that shape never get here (StrictFraming's decoder refuses them); HTTP/1.0 ones do.
                status = 400;
                message = "a request must not carry both Content-Length and Transfer-Encoding";
            } else if (te != null) {
                for (String coding : te.split(",", 16)) {
                    if (!coding.trim().equalsIgnoreCase("chunked")) {
                        status = 501;
                        message = "transfer codings other than chunked are not supported";
                        break;
                    }
                }
            }
        }
        if (status == 0) {
            return false;
        }
        HttpConnection connection = req.connection();
        if (status == 505 && connection instanceof ConnectionBase base) {
            // Vert.x answers in the request's version ("HTTP/9.9 505"), which no client can read: the answer goes to
            // Netty's response encoder as HTTP/1.1 itself, and the connection closes after it.
            FullHttpResponse answer = new DefaultFullHttpResponse(
                    io.netty.handler.codec.http.HttpVersion.HTTP_1_1,
                    HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED,
                    Unpooled.copiedBuffer(message + "\n", StandardCharsets.UTF_8));
            answer.headers()
                    .set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                    .set(HttpHeaderNames.CONTENT_LENGTH, answer.content().readableBytes())
                    .set(HttpHeaderNames.CONNECTION, "close");
            base.channelHandlerContext().writeAndFlush(answer).addListener(ChannelFutureListener.CLOSE);
            return true;
        }
        ctx.response()
                .setStatusCode(status)
                .putHeader("Content-Type", "text/plain; charset=utf-8")
                .putHeader("Connection", "close")
                .end(message + "\n")
                .onComplete(ar -> connection.close());
        return true;
    }

    /** What a connection remembers of the last route token it presented (RouteTokens#lookup). */
    private static final AttributeKey<RouteTokens.Lookup> LAST_TOKEN = AttributeKey.valueOf("splitstream.route-token");

    /** The agent of {@code token}; the connection's last lookup answers when it presented the same token before. */
    private Optional<String> agentFor(HttpServerRequest req, String token) {
        if (!(req.connection() instanceof ConnectionBase base)) {
            return tokens.agentFor(token);
        }
        Attribute<RouteTokens.Lookup> slot = base.channel().attr(LAST_TOKEN);
        RouteTokens.Lookup last = slot.get();
        RouteTokens.Lookup found = tokens.lookup(token, last);
        if (found != last && found.agent().isPresent()) {
            slot.set(found);
        }
        return found.agent();
    }

    /** {@code <service>.<domain>} from the Host header, when host routes are on. */
    private Optional<String> hostRoute(HttpServerRequest req) {
        if (domain.isEmpty() || req.authority() == null) {
            return Optional.empty();
        }
        String host = req.authority().host().toLowerCase(Locale.ROOT);
        String suffix = "." + domain.get();
        if (!host.endsWith(suffix)) {
            return Optional.empty();
        }
        String label = host.substring(0, host.length() - suffix.length());
        return FrameCodec.isServiceName(label) ? Optional.of(label) : Optional.empty();
    }

    private static String withQuery(String path, HttpServerRequest req) {
        return req.query() == null ? path : path + "?" + req.query();
    }

    private void proxyToFirstHttp(RoutingContext ctx, String agentName, String uri, String path) {
        Optional<AgentRecord> agent = expose.agent(agentName);
        AgentRecord.ServiceRecord service = agent.map(HttpRoutes::firstHttp).orElse(null);
        if (service == null) {
            notFound(ctx);
            // the token is known, so is its agent: the request belongs in that agent's log
            record(
                    ctx.request(),
                    agent.map(AgentRecord::tokenId).orElse(null),
                    agentName,
                    "",
                    RequestLog.Via.TOKEN,
                    ctx.request().method().name(),
                    path,
                    404,
                    0,
                    0,
                    0);
            return;
        }
        proxy(ctx, agent.get(), service.name(), uri, path, RequestLog.Via.TOKEN);
    }

    /** The agent's first HTTP service, or null. A loop, not a stream: it runs for every route request. */
    private static AgentRecord.ServiceRecord firstHttp(AgentRecord agent) {
        for (AgentRecord.ServiceRecord s : agent.services()) {
            if (s.kind().equals("http")) {
                return s;
            }
        }
        return null;
    }

    /**
     * One line per request at DEBUG, an entry in the dashboard's request log and a {@code route} row in the audit log.
     * {@code path} is the path the client asked for without the {@code /_token/<token>} prefix; the query string is
     * dropped.
     */
    private void record(
            HttpServerRequest request,
            String tokenId,
            String agent,
            String service,
            RequestLog.Via via,
            String method,
            String path,
            int status,
            long nanos,
            long in,
            long out) {
        String shown = RequestLog.loggablePath(AgentReports.withoutTokens(path));
        long millis = TimeUnit.NANOSECONDS.toMillis(nanos);
        agentReports.report(agent, service, via, method, path, status, nanos, in, out);
        java.time.Instant now = java.time.Instant.now();
        requestLog.add(new RequestLog.Entry(now, agent, service, via, method, shown, status, millis, in, out));
        // who (the client a relaying replica names, else the peer), which route, bytes, status, duration
        audit.audit(new AuditEvent(
                now,
                "route",
                null,
                tokenId,
                relay.clientOf(request),
                via.label(),
                agent + "/" + service,
                in,
                out,
                Integer.toString(status),
                millis,
                method + " " + shown));
        if (LOG.isDebugEnabled()) { // eight arguments: an array and four boxes per request otherwise
            LOG.debugf(
                    "route %s/%s via %s: %s %s -> %d in %d ms (%d bytes in, %d out)",
                    agent, service, via.label(), method, shown, status, millis, in, out);
        }
    }

    private void proxy(
            RoutingContext ctx, AgentRecord agent, String service, String uri, String path, RequestLog.Via via) {
        String target = "";
        for (AgentRecord.ServiceRecord s : agent.services()) {
            if (s.name().equals(service)) {
                target = s.target();
                break;
            }
        }
        String xHost = ctx.request().getHeader("X-Host");
        String streamName = service;
        String hostHeader = hostHeader(target);
        if (xHost != null) {
            Optional<URI> other = parseXHost(xHost.trim());
            if (other.isEmpty()) {
                ctx.request().resume();
                ctx.response()
                        .setStatusCode(400)
                        .putHeader("Content-Type", "text/plain; charset=utf-8")
                        .end("X-Host must be scheme://host[:port] (http or https)\n");
                return;
            }
            // The agent decides whether this target is allowed (SPLITSTREAM_ENTRY_HTTP_HOSTS): 403 otherwise.
            streamName = service + "|" + other.get();
            hostHeader = hostOf(other.get().toString());
        }
        boolean passwordChecked = false;
        if (via != RequestLog.Via.HUB) {
            Optional<RoutePassword> password = tokenPolicies
                    .policy(agent.tokenId())
                    .flatMap(p -> p.expose().routePassword());
            if (password.isPresent()) {
                if (!password.get().admits(ctx.request().getHeader("Authorization"))) {
                    ctx.request().resume();
                    ctx.response()
                            .setStatusCode(401)
                            .putHeader("WWW-Authenticate", "Basic realm=\"splitstream route\", charset=\"UTF-8\"")
                            .putHeader("Content-Type", "text/plain; charset=utf-8")
                            .end("this route needs a password\n");
                    record(
                            ctx.request(),
                            agent.tokenId(),
                            agent.name(),
                            service,
                            via,
                            ctx.request().method().name(),
                            path,
                            401,
                            0,
                            0,
                            0);
                    return;
                }
                passwordChecked = true;
            }
        }
        boolean hubRequest = via == RequestLog.Via.HUB;
        if (relay.route(ctx, agent.name(), hubRequest)) {
            return; // the agent's session is on another replica: relayed there (which checks the password again)
        }
        active.incrementAndGet();
        RouteExchange exchange = new RouteExchange(
                ctx.request(),
                uri,
                hostHeader,
                via == RequestLog.Via.HUB,
                pool,
                agent.name(),
                streamName,
                (method, status, nanos, in, out) -> {
                    active.decrementAndGet();
                    timer(status).record(nanos, TimeUnit.NANOSECONDS);
                    record(
                            ctx.request(),
                            agent.tokenId(),
                            agent.name(),
                            service,
                            via,
                            method,
                            path,
                            status,
                            nanos,
                            in,
                            out);
                });
        exchange.onFollow(owner -> {
            // waited here for the agent, which came back on another replica: the request goes there, as it is
            active.decrementAndGet();
            relay.follow(ctx, agent.name(), owner, hubRequest);
        });
        if (passwordChecked) {
            exchange.withoutAuthorization(); // the route's own password is not the service's business
        }
        exchange.start();
    }

    /** {@code scheme://host[:port]} with scheme http or https and nothing else, normalised. */
    static Optional<URI> parseXHost(String value) {
        if (value.length() > 200) {
            return Optional.empty();
        }
        try {
            URI u = new URI(value);
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
            boolean bare = (u.getRawPath() == null
                            || u.getRawPath().isEmpty()
                            || u.getRawPath().equals("/"))
                    && u.getRawQuery() == null
                    && u.getRawFragment() == null
                    && u.getRawUserInfo() == null;
            if (!(scheme.equals("http") || scheme.equals("https")) || u.getHost() == null || !bare) {
                return Optional.empty();
            }
            String host = u.getHost().toLowerCase(Locale.ROOT);
            return Optional.of(new URI(scheme + "://" + host + (u.getPort() < 0 ? "" : ":" + u.getPort())));
        } catch (java.net.URISyntaxException e) {
            return Optional.empty();
        }
    }

    /** Most targets whose Host header is kept: announced targets are few; past this the cache starts over. */
    private static final int MAX_HOST_HEADERS = 1024;

    private final Map<String, String> hostHeaders = new ConcurrentHashMap<>();

    /** {@link #hostOf}, parsed once per announced target rather than once per request. */
    private String hostHeader(String target) {
        String host = hostHeaders.get(target);
        if (host == null) {
            if (hostHeaders.size() >= MAX_HOST_HEADERS) {
                hostHeaders.clear();
            }
            host = hostOf(target);
            hostHeaders.put(target, host);
        }
        return host;
    }

    /** {@code host:port} of an announced {@code http://host:port} target, for the Host header towards the service. */
    static String hostOf(String target) {
        try {
            URI u = URI.create(target);
            if (u.getHost() != null) {
                return u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + u.getPort();
            }
        } catch (IllegalArgumentException e) {
            // fall through
        }
        return "localhost";
    }

    private Timer timer(int status) {
        int i = status >= 100 && status < 600 ? status / 100 - 1 : 5;
        Timer t = timers[i];
        if (t == null) {
            t = registerTimer(i);
            timers[i] = t;
        }
        return t;
    }

    private Timer registerTimer(int index) {
        return Timer.builder("splitstream.exit.route.requests")
                .tag("status", index < 5 ? (index + 1) + "xx" : "other")
                .description("HTTP requests through routes and the Hub, by status class")
                .publishPercentileHistogram()
                .maximumExpectedValue(Duration.ofMinutes(5))
                .register(registry);
    }

    private static void notFound(RoutingContext ctx) {
        ctx.request().resume();
        ctx.response()
                .setStatusCode(404)
                .putHeader("Content-Type", "text/plain; charset=utf-8")
                .end("no such route\n");
    }

    // ------------------------------------------------------------------ Hub API

    private void hub(RoutingContext ctx, String rest) {
        HttpServerRequest req = ctx.request();
        if (hubToken.isEmpty()) {
            notFound(ctx);
            return;
        }
        if (!authorized(req.getHeader("Authorization"))) {
            req.resume();
            ctx.response()
                    .setStatusCode(401)
                    .putHeader("WWW-Authenticate", "Bearer realm=\"splitstream hub\"")
                    .putHeader("Content-Type", "text/plain; charset=utf-8")
                    .end("a valid bearer token is required\n");
            return;
        }
        String[] parts = rest.isEmpty() ? new String[0] : rest.substring(1).split("/", 4);
        if (parts.length == 0 || (parts.length == 1 && parts[0].isEmpty())) {
            if (req.method() != HttpMethod.GET) {
                methodNotAllowed(ctx);
                return;
            }
            List<Map<String, Object>> out = new ArrayList<>();
            expose.agents().stream()
                    .sorted(java.util.Comparator.comparing(AgentRecord::name))
                    .forEach(a -> out.add(describe(a)));
            sendJson(ctx, 200, out);
            return;
        }
        Optional<AgentRecord> agent = expose.agent(parts[0]);
        if (agent.isEmpty()) {
            req.resume();
            ctx.response().setStatusCode(404).end("no such agent\n");
            return;
        }
        if (parts.length == 1) {
            if (req.method() != HttpMethod.GET) {
                methodNotAllowed(ctx);
                return;
            }
            sendJson(ctx, 200, describe(agent.get()));
            return;
        }
        if (parts.length == 2 && parts[1].equals("leases")) {
            if (req.method() != HttpMethod.DELETE) {
                methodNotAllowed(ctx);
                return;
            }
            if (relay.route(ctx, agent.get().name(), true)) {
                return; // the agent's session is on another replica: only that one can release it (and its row)
            }
            boolean released = expose.release(agent.get().name(), null);
            req.resume();
            ctx.response().setStatusCode(released ? 204 : 404).end();
            return;
        }
        if (parts.length >= 3 && parts[1].equals("services")) {
            String service = parts[2];
            boolean known = agent.get().services().stream()
                    .anyMatch(s -> s.name().equals(service) && s.kind().equals("http"));
            if (!known) {
                req.resume();
                ctx.response().setStatusCode(404).end("no such HTTP service\n");
                return;
            }
            String path = parts.length == 4 ? "/" + parts[3] : "/";
            proxy(ctx, agent.get(), service, withQuery(path, req), path, RequestLog.Via.HUB);
            return;
        }
        req.resume();
        ctx.response().setStatusCode(404).end("not found\n");
    }

    private boolean authorized(String header) {
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] given = header.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(given, hubToken.get());
    }

    private static Map<String, Object> describe(AgentRecord a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", a.name());
        m.put("tokenId", a.tokenId());
        m.put("connected", a.connected());
        m.put("lastSeen", a.lastSeen().toString());
        List<Map<String, Object>> services = new ArrayList<>();
        for (AgentRecord.ServiceRecord s : a.services()) {
            Map<String, Object> sm = new LinkedHashMap<>();
            sm.put("name", s.name());
            sm.put("kind", s.kind());
            sm.put("target", s.target());
            sm.put("publicPort", s.publicPort() == 0 ? null : s.publicPort());
            services.add(sm);
        }
        m.put("services", services);
        return m;
    }

    private void sendJson(RoutingContext ctx, int status, Object body) {
        ctx.request().resume();
        try {
            ctx.response()
                    .setStatusCode(status)
                    .putHeader("Content-Type", "application/json")
                    .end(json.writeValueAsString(body));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            ctx.response().setStatusCode(500).end();
        }
    }

    private static void methodNotAllowed(RoutingContext ctx) {
        ctx.request().resume();
        ctx.response().setStatusCode(405).end("method not allowed\n");
    }

    // ------------------------------------------------------------------ stats

    private void stats(RoutingContext ctx) {
        List<AgentRecord> agents = expose.agents();
        StringBuilder b = new StringBuilder();
        b.append("sessions=").append(sessions.size()).append('\n');
        b.append("agents=").append(agents.size()).append('\n');
        b.append("agents_connected=")
                .append(agents.stream().filter(AgentRecord::connected).count())
                .append('\n');
        b.append("services=")
                .append(agents.stream().mapToInt(a -> a.services().size()).sum())
                .append('\n');
        b.append("ports=").append(expose.leases().size()).append('\n');
        b.append("routes=").append(tokens.size()).append('\n');
        b.append("requests_active=").append(active.get()).append('\n');
        b.append("queued=").append(expose.queuedConnections()).append('\n');
        if (isLoopback(ctx.request().remoteAddress())) {
            for (AgentRecord a : agents) {
                String p = "agent." + a.name() + ".";
                b.append(p).append("connected=").append(a.connected()).append('\n');
                b.append(p).append("last_seen=").append(a.lastSeen()).append('\n');
                for (AgentRecord.ServiceRecord s : a.services()) {
                    b.append(p)
                            .append("service.")
                            .append(s.name())
                            .append('=')
                            .append(s.kind())
                            .append(s.publicPort() > 0 ? " port " + s.publicPort() : "")
                            .append('\n');
                }
            }
        }
        ctx.request().resume();
        ctx.response()
                .putHeader("Content-Type", "text/plain; charset=utf-8")
                .putHeader("Cache-Control", "no-store")
                .end(b.toString());
    }

    private static boolean isLoopback(SocketAddress address) {
        if (address == null || address.hostAddress() == null) {
            return false;
        }
        try {
            return InetAddress.getByName(address.hostAddress()).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }
}
