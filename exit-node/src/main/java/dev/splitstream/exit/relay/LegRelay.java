package dev.splitstream.exit.relay;

import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.config.SplitstreamConfig;
import dev.splitstream.exit.registry.AuditEvent;
import dev.splitstream.exit.registry.ExitRegistry;
import dev.splitstream.exit.registry.ExitRegistry.OwnerLookup;
import dev.splitstream.exit.registry.RegistrySettings;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.quarkus.websockets.next.WebSocketConnection;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Relays a leg or request that reached a replica which does not own its session to the replica that does, byte for
 * byte, over an authenticated hop ({@link ClusterAuth}): the owner runs the handshake and the session as if the client
 * had reached it directly. Which replica owns what: a RESUME or JOIN HELLO's session id is looked up in the registry;
 * the plain-HTTP transport's handshake and leg ids end with {@code -<owner replica id>}, so later requests of a leg
 * need no look-up. A leg that arrived relayed is never relayed again.
 */
@ApplicationScoped
public class LegRelay {
    private static final Logger LOG = Logger.getLogger(LegRelay.class);
    private static final String HTTP_BASE = "/splitstream/v1/http";
    private static final String HANDSHAKE_HEADER = "X-Splitstream-Handshake";
    private static final String LEG_HEADER = "X-Splitstream-Leg";
    /** Longest head of an owner's answer to a relayed upgrade. */
    private static final int MAX_RESPONSE_HEAD = 64 * 1024;

    private static final Set<String> HOP_BY_HOP = Set.of(
            "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host");

    private final ExitRegistry registry;
    private final SessionRegistry sessions;
    private final ExitSettings settings;
    private final Vertx vertx;
    private final ClusterAuth auth;
    private final Counter relayedWs;
    private final Counter relayedHttp;
    /** Longest half-closed state of a relayed upgrade (the owner bounds it the same way). */
    private final Duration halfClosed;

    private volatile HttpClient http;
    private volatile WebSocketClient ws;
    private final ReplicaConnections replicas;

    public LegRelay(
            ExitRegistry registry,
            RegistrySettings registrySettings,
            SessionRegistry sessions,
            ExitSettings settings,
            Vertx vertx,
            MeterRegistry meters,
            SplitstreamConfig config,
            ReplicaConnections replicas) {
        this.registry = registry;
        this.replicas = replicas;
        this.halfClosed = config.exit().upgradeHalfCloseTimeout();
        this.relayedWs = Counter.builder("splitstream.exit.relayed")
                .description("Legs (websocket) and requests (http) relayed to the replica owning their session")
                .tag("transport", "websocket")
                .register(meters);
        this.relayedHttp = Counter.builder("splitstream.exit.relayed")
                .description("Legs (websocket) and requests (http) relayed to the replica owning their session")
                .tag("transport", "http")
                .register(meters);
        this.sessions = sessions;
        this.settings = settings;
        this.vertx = vertx;
        this.auth = registry.clustered()
                ? new ClusterAuth(registrySettings.clusterSecret(), registry.replicaId(), Clock.systemUTC())
                : null;
    }

    /** True when legs may need relaying (a shared registry). */
    public boolean enabled() {
        return auth != null;
    }

    ExitRegistry registry() {
        return registry;
    }

    /**
     * Where a connection or request came from: for a hop signed by another replica, the client that replica relays
     * (and {@code relayed} true); else the direct peer. {@code forged} when a relay header is present but invalid.
     */
    public record Inbound(boolean relayed, boolean forged, String clientAddress) {}

    public Inbound inbound(String relayHeader, String forHeader, String peer) {
        if (relayHeader == null) {
            return new Inbound(false, false, peer);
        }
        if (auth == null || auth.verify(relayHeader, forHeader).isEmpty()) {
            LOG.warnf("refused a relay hop from %s: invalid or stale %s", peer, ClusterAuth.RELAY_HEADER);
            return new Inbound(false, true, peer);
        }
        return new Inbound(true, false, forHeader);
    }

    public Inbound inbound(WebSocketConnection connection) {
        var request = connection.handshakeRequest();
        return inbound(
                request.header(ClusterAuth.RELAY_HEADER),
                request.header(ClusterAuth.FOR_HEADER),
                request.remoteAddress());
    }

    public Inbound inbound(HttpServerRequest request) {
        return inbound(
                request.getHeader(ClusterAuth.RELAY_HEADER),
                request.getHeader(ClusterAuth.FOR_HEADER),
                String.valueOf(request.remoteAddress()));
    }

    /** An id of the HTTP transport (handshake, leg) made routable: {@code <random>-<this replica>} when clustered. */
    public String tag(String randomHex) {
        return enabled() ? randomHex + "-" + registry.replicaId() : randomHex;
    }

    /** True if a HELLO asks for a session that is not here and may be owned by another replica. */
    public boolean wantsRelay(Frame.Hello hello, Inbound inbound) {
        return enabled()
                && !inbound.relayed()
                && hello.intent() != Frame.Intent.NEW
                && sessions.find(hello.sessionId()).isEmpty();
    }

    // ---------------------------------------------------------------- WebSocket

    /** What a WebSocket leg does when its HELLO is not relayed after all. */
    public interface Fallback {
        /** No live replica owns the session: handle the HELLO here (it is refused as UNKNOWN_SESSION). */
        void local();

        /** No hand-off possible now (registry unavailable): refuse with this code (the entry retries). */
        void refuse(CloseCode code, String message);
    }

    /**
     * Looks the HELLO's session up and relays the connection to its owner; until then (and after, for the relayed
     * connection's life) the leg hands every client message to {@link WsRelay#fromClient}. On the connection's
     * context.
     */
    public WsRelay webSocket(
            WebSocketConnection client, Inbound inbound, Frame.Hello hello, Buffer helloBytes, Fallback fallback) {
        String sessionHex = HexFormat.of().formatHex(hello.sessionId());
        WsRelay relay = new WsRelay(this, client, inbound.clientAddress(), sessionHex, hello.intent(), helloBytes);
        Context ctx = vertx.getOrCreateContext();
        registry.ownerOf(sessionHex)
                .onComplete(ar -> ctx.runOnContext(v -> {
                    OwnerLookup owner =
                            ar.succeeded() ? ar.result() : OwnerLookup.unavailable(String.valueOf(ar.cause()));
                    switch (owner.kind()) {
                        case OWNER -> relay.connect(owner);
                        case UNKNOWN -> {
                            audit(
                                    sessionHex,
                                    inbound.clientAddress(),
                                    "websocket",
                                    null,
                                    "UNKNOWN_SESSION",
                                    owner.detail());
                            relay.abandon();
                            fallback.local();
                        }
                        default -> {
                            audit(sessionHex, inbound.clientAddress(), "websocket", null, "GOING_AWAY", owner.detail());
                            relay.abandon();
                            fallback.refuse(
                                    CloseCode.GOING_AWAY,
                                    "cannot hand session " + sessionHex + " over to its replica now (" + owner.detail()
                                            + "); retry");
                        }
                    }
                }));
        return relay;
    }

    WebSocketClient wsClient() {
        WebSocketClient c = ws;
        if (c == null) {
            synchronized (this) {
                if (ws == null) {
                    int max = settings.limits().maxPayload() + FrameCodec.HEADER_LENGTH + 64 * 1024;
                    ws = vertx.createWebSocketClient(new WebSocketClientOptions()
                            .setMaxFrameSize(max)
                            .setMaxMessageSize(max)
                            .setTcpNoDelay(true)
                            .setConnectTimeout(5_000)
                            .setMaxConnections(Math.max(64, settings.maxSessions() * 2)));
                }
                c = ws;
            }
        }
        return c;
    }

    void relayedWebSocket() {
        relayedWs.increment();
    }

    /** A CLOSE frame as the handshake's codec writes it (for a leg refused before any session). */
    Buffer closeFrame(CloseCode code, String message) {
        return Buffer.buffer(
                Unpooled.wrappedBuffer(new FrameCodec(settings.limits()).encode(new Frame.Close(code, message))));
    }

    String sign(String clientAddress) {
        return auth.sign(clientAddress);
    }

    void audit(String sessionHex, String client, String transport, String owner, String outcome, String detail) {
        audit(sessionHex, client, transport, owner, outcome, detail, 0, 0, 0);
    }

    void audit(
            String sessionHex,
            String client,
            String transport,
            String owner,
            String outcome,
            String detail,
            long up,
            long down,
            long millis) {
        registry.audit(new AuditEvent(
                java.time.Instant.now(),
                "relay",
                sessionHex,
                null,
                client,
                transport,
                owner == null ? null : "replica " + owner,
                up,
                down,
                outcome,
                millis,
                detail));
    }

    // ---------------------------------------------------------------- plain HTTP

    void routes(@Observes Router router) {
        if (!enabled()) {
            return;
        }
        // Before the transport's own routes: requests of legs owned elsewhere go there.
        router.route(HTTP_BASE + "/*").order(-100).handler(this::filter);
    }

    private void filter(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        Inbound inbound = inbound(request);
        if (inbound.forged()) {
            text(ctx.response(), 403, "invalid replica relay signature");
            return;
        }
        String path = request.path();
        String id = null;
        if (path.endsWith("/handshake")) {
            id = request.getHeader(HANDSHAKE_HEADER);
        } else if (path.endsWith("/up")) {
            id = request.getHeader(LEG_HEADER);
        } else if (path.endsWith("/down")) {
            id = request.getParam("leg") != null ? request.getParam("leg") : request.getHeader(LEG_HEADER);
        }
        String owner = ownerTag(id);
        if (inbound.relayed() || owner == null || owner.equals(registry.replicaId())) {
            ctx.next();
            return;
        }
        request.pause();
        Context context = vertx.getOrCreateContext();
        registry.replica(owner)
                .onComplete(ar -> context.runOnContext(v -> {
                    OwnerLookup found =
                            ar.succeeded() ? ar.result() : OwnerLookup.unavailable(String.valueOf(ar.cause()));
                    switch (found.kind()) {
                        case OWNER -> proxy(ctx, found.url(), null, inbound.clientAddress());
                        case UNKNOWN -> {
                            request.resume();
                            text(ctx.response(), 404, "unknown or expired leg: handshake again (RESUME or JOIN)");
                        }
                        default -> {
                            request.resume();
                            text(
                                    ctx.response(),
                                    503,
                                    "cannot reach the replica of this leg now (" + found.detail() + ")");
                        }
                    }
                }));
    }

    private static String ownerTag(String id) {
        if (id == null) {
            return null;
        }
        int dash = id.lastIndexOf('-');
        return dash < 0 || dash == id.length() - 1 ? null : id.substring(dash + 1);
    }

    /**
     * The HTTP transport's HELLO (already read): relayed to the owner of a RESUME/JOIN session held elsewhere, refused
     * with 503 + CLOSE GOING_AWAY while the registry cannot tell, else handled by {@code local}. On the request's
     * context.
     */
    public void httpHello(RoutingContext ctx, Buffer body, Runnable local) {
        if (!enabled()) {
            local.run();
            return;
        }
        Inbound inbound = inbound(ctx.request());
        Frame frame;
        try {
            frame = new FrameCodec(settings.limits())
                    .decodeMessage(body.getByteBuf().nioBuffer());
        } catch (Exception e) {
            local.run();
            return;
        }
        if (!(frame instanceof Frame.Hello hello) || inbound.forged() || !wantsRelay(hello, inbound)) {
            local.run();
            return;
        }
        String sessionHex = HexFormat.of().formatHex(hello.sessionId());
        Context context = vertx.getOrCreateContext();
        registry.ownerOf(sessionHex)
                .onComplete(ar -> context.runOnContext(v -> {
                    OwnerLookup owner =
                            ar.succeeded() ? ar.result() : OwnerLookup.unavailable(String.valueOf(ar.cause()));
                    switch (owner.kind()) {
                        case OWNER -> {
                            audit(
                                    sessionHex,
                                    inbound.clientAddress(),
                                    "http",
                                    owner.replicaId(),
                                    "relayed",
                                    hello.intent().name());
                            proxy(ctx, owner.url(), body, inbound.clientAddress());
                        }
                        case UNKNOWN -> {
                            audit(sessionHex, inbound.clientAddress(), "http", null, "UNKNOWN_SESSION", owner.detail());
                            local.run();
                        }
                        default -> {
                            audit(sessionHex, inbound.clientAddress(), "http", null, "GOING_AWAY", owner.detail());
                            String message = "cannot hand session " + sessionHex + " over to its replica now ("
                                    + owner.detail() + "); retry";
                            LOG.warnf("handshake refused: GOING_AWAY %s", message);
                            ByteBuffer close = new FrameCodec(settings.limits())
                                    .encode(new Frame.Close(CloseCode.GOING_AWAY, message));
                            HttpServerResponse response = ctx.response();
                            if (!response.ended()) {
                                response.setStatusCode(503)
                                        .putHeader("Content-Type", "application/octet-stream")
                                        .putHeader("Cache-Control", "no-store")
                                        .end(Buffer.buffer(Unpooled.wrappedBuffer(close)));
                            }
                        }
                    }
                }));
    }

    private HttpClient httpClient() {
        HttpClient c = http;
        if (c == null) {
            synchronized (this) {
                if (http == null) {
                    http = vertx.createHttpClient(
                            new HttpClientOptions()
                                    .setTcpNoDelay(true)
                                    .setKeepAlive(true)
                                    .setConnectTimeout(5_000)
                                    .setIdleTimeout(120),
                            new PoolOptions().setHttp1MaxSize(512).setMaxWaitQueueSize(1024));
                }
                c = http;
            }
        }
        return c;
    }

    /** Forwards a route request, streamed both ways, to the same path on the replica at {@code owner}. */
    void forward(RoutingContext ctx, URI owner, String clientAddress) {
        proxy(ctx, owner, null, clientAddress, false);
    }

    private void proxy(RoutingContext ctx, URI owner, Buffer body, String clientAddress) {
        proxy(ctx, owner, body, clientAddress, true);
    }

    /** Sends the request to the same path on {@code owner} (body: {@code body}, or the request itself, streamed). */
    private void proxy(RoutingContext ctx, URI owner, Buffer body, String clientAddress, boolean leg) {
        HttpServerRequest in = ctx.request();
        HttpServerResponse out = ctx.response();
        if (leg) {
            relayedHttp.increment();
        }
        boolean tls = "https".equals(owner.getScheme().toLowerCase(Locale.ROOT));
        int port = owner.getPort() > 0 ? owner.getPort() : tls ? 443 : 80;
        String prefix = owner.getRawPath() == null ? "" : owner.getRawPath().replaceAll("/+$", "");
        RequestOptions options = new RequestOptions()
                .setMethod(in.method())
                .setHost(owner.getHost())
                .setPort(port)
                .setSsl(tls)
                .setURI(prefix + in.uri())
                .setIdleTimeout(-1);
        boolean upgrade = !leg && isUpgrade(in) && !hasBody(in);
        MultiMap headers = MultiMap.caseInsensitiveMultiMap();
        if (upgrade) {
            headers.set("Connection", "Upgrade");
            headers.set("Upgrade", in.getHeader("Upgrade"));
        }
        in.headers().forEach(h -> {
            if (!HOP_BY_HOP.contains(h.getKey().toLowerCase(Locale.ROOT))
                    && !h.getKey().equalsIgnoreCase(ClusterAuth.RELAY_HEADER)
                    && !h.getKey().equalsIgnoreCase(ClusterAuth.FOR_HEADER)) {
                headers.add(h.getKey(), h.getValue());
            }
        });
        headers.set(ClusterAuth.RELAY_HEADER, auth.sign(clientAddress));
        headers.set(ClusterAuth.FOR_HEADER, clientAddress);
        if (!leg) {
            // A route request: this replica is one more proxy on the way, so the client goes into X-Forwarded-For
            // here; the owner adds this replica's address after it, as it adds any proxy's.
            String forwardedFor = in.getHeader("X-Forwarded-For");
            String client = dev.splitstream.exit.transport.ClientAddress.of(in);
            headers.set("X-Forwarded-For", forwardedFor == null ? client : forwardedFor + ", " + client);
        }
        if (body != null) {
            headers.set("Content-Length", Integer.toString(body.length()));
        }
        options.setHeaders(headers);
        Consumer<Throwable> failed = t -> {
            LOG.debugf("relay of %s to %s failed: %s", in.path(), owner, t.toString());
            in.resume();
            if (!out.headWritten()) {
                text(out, 503, "the replica that owns this leg is unreachable; retry");
            } else {
                out.reset();
            }
        };
        if (upgrade) {
            // host routes: the owner matches <service>.<domain> on the authority
            headers.set("Host", in.authority() != null ? in.authority().toString() : owner.getHost() + ":" + port);
            upgrade(in, out, owner.getHost(), port, tls, prefix + in.uri(), headers, clientAddress, failed);
            return;
        }
        httpClient().request(options).onComplete(ar -> {
            if (ar.failed()) {
                failed.accept(ar.cause());
                return;
            }
            HttpClientRequest req = ar.result();
            if (!leg && in.authority() != null) {
                req.authority(in.authority()); // host routes: the owner matches <service>.<domain> on it
            }
            out.closeHandler(v -> req.reset());
            // A route request that followed its agent here may have been read to its end already (a request without
            // a body starts reading at once, RouteExchange.headForReuse): it has nothing more to stream.
            Future<HttpClientResponse> sent = body != null ? req.send(body) : in.isEnded() ? req.send() : req.send(in);
            sent.onComplete(r -> {
                if (r.failed()) {
                    failed.accept(r.cause());
                    return;
                }
                respond(r.result(), out);
            });
        });
    }

    /** The owner's answer goes back to the client as it is, its body streamed. */
    private static void respond(HttpClientResponse resp, HttpServerResponse out) {
        copyHead(resp, out);
        if (resp.getHeader("Content-Length") == null) {
            out.setChunked(true);
        }
        resp.pipeTo(out);
    }

    /** The owner's status and end-to-end headers (hop-by-hop ones are this hop's own). */
    private static void copyHead(HttpClientResponse resp, HttpServerResponse out) {
        out.setStatusCode(resp.statusCode());
        resp.headers().forEach(h -> {
            if (!HOP_BY_HOP.contains(h.getKey().toLowerCase(Locale.ROOT))) {
                out.headers().add(h.getKey(), h.getValue());
            }
        });
    }

    private static boolean isUpgrade(HttpServerRequest in) {
        String connection = in.getHeader("Connection");
        return in.getHeader("Upgrade") != null
                && connection != null
                && connection.toLowerCase(Locale.ROOT).contains("upgrade");
    }

    /** A request that announces a body (an upgrade carries none; one that does is proxied as an ordinary request). */
    private static boolean hasBody(HttpServerRequest in) {
        String length = in.getHeader("Content-Length");
        return in.getHeader("Transfer-Encoding") != null
                || (length != null && !length.trim().equals("0"));
    }

    /**
     * A route request asking for an upgrade (a WebSocket to the agent's service): the request head goes to the owner on
     * a TCP connection of its own; once the owner answered 101, the client's connection and that one are spliced with
     * half-close ({@link Splice}: one side's FIN reaches the other and the other direction keeps flowing, at most
     * {@code upgrade-half-close-timeout}); any other answer goes back as an ordinary response. Written on a raw socket
     * rather than with Vert.x's HTTP client tunnel, whose socket hides its channel (no FIN can be passed on) and never
     * completes an empty write.
     */
    private void upgrade(
            HttpServerRequest in,
            HttpServerResponse out,
            String host,
            int port,
            boolean tls,
            String uri,
            MultiMap headers,
            String clientAddress,
            Consumer<Throwable> failed) {
        DefaultHttpRequest head = new DefaultHttpRequest(
                HttpVersion.HTTP_1_1, HttpMethod.valueOf(in.method().name()), uri);
        headers.forEach(h -> head.headers().add(h.getKey(), h.getValue()));
        Buffer request = encode(head);
        long started = System.nanoTime();
        replicas.client(tls).connect(port, host).onComplete(ar -> {
            if (ar.failed()) {
                failed.accept(ar.cause());
                return;
            }
            NetSocket hop = ar.result();
            SocketBridge.configure(hop);
            out.closeHandler(v -> hop.close());
            EmbeddedChannel decoder = new EmbeddedChannel(new HttpResponseDecoder(4096, MAX_RESPONSE_HEAD, 8192));
            UpgradeAnswer answer = new UpgradeAnswer(in, out, hop, decoder, clientAddress, started, failed);
            hop.closeHandler(v -> answer.hopClosed());
            hop.exceptionHandler(t -> hop.close());
            hop.handler(answer::fromOwner);
            hop.write(request);
        });
    }

    /** {@code message} as bytes, through Netty's request encoder. */
    private static Buffer encode(Object message) {
        EmbeddedChannel encoder = new EmbeddedChannel(new HttpRequestEncoder());
        try {
            encoder.writeOutbound(message);
            Buffer bytes = Buffer.buffer();
            for (ByteBuf b = encoder.readOutbound(); b != null; b = encoder.readOutbound()) {
                try {
                    bytes.appendBytes(ByteBufUtil.getBytes(b));
                } finally {
                    b.release();
                }
            }
            return bytes;
        } finally {
            encoder.finishAndReleaseAll();
        }
    }

    /**
     * The owner's answer to a relayed upgrade, parsed by Netty's response decoder: a 101 joins the two connections (the
     * bytes after its head go to the client first), anything else is streamed back as an ordinary response. On the
     * hop's event loop.
     */
    private final class UpgradeAnswer {
        private final HttpServerRequest in;
        private final HttpServerResponse out;
        private final NetSocket hop;
        private final EmbeddedChannel decoder;
        private final String clientAddress;
        private final long started;
        private final Consumer<Throwable> failed;
        /** Bytes after the 101's head, until the client's connection is ready. */
        private final Buffer early = Buffer.buffer();

        private boolean answered;
        private boolean switched;
        private boolean spliced;
        private boolean ended;

        UpgradeAnswer(
                HttpServerRequest in,
                HttpServerResponse out,
                NetSocket hop,
                EmbeddedChannel decoder,
                String clientAddress,
                long started,
                Consumer<Throwable> failed) {
            this.in = in;
            this.out = out;
            this.hop = hop;
            this.decoder = decoder;
            this.clientAddress = clientAddress;
            this.started = started;
            this.failed = failed;
        }

        void fromOwner(Buffer buffer) {
            if (spliced) {
                return; // the splice has its own handler; nothing reaches this one
            }
            if (switched) {
                early.appendBuffer(buffer);
                return;
            }
            decoder.writeInbound(Unpooled.wrappedBuffer(buffer.getBytes()));
            for (Object msg = decoder.readInbound(); msg != null; msg = decoder.readInbound()) {
                try {
                    handle(msg);
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }
        }

        private void handle(Object msg) {
            if (msg instanceof HttpResponse r && !answered) {
                if (r.decoderResult().isFailure()) {
                    hop.close();
                    failed.accept(new IllegalStateException("invalid answer from the owner: " + r.decoderResult()));
                    return;
                }
                answered = true;
                out.setStatusCode(r.status().code());
                r.headers().forEach(h -> {
                    if (!HOP_BY_HOP.contains(h.getKey().toLowerCase(Locale.ROOT))) {
                        out.headers().add(h.getKey(), h.getValue());
                    }
                });
                if (r.status().code() == 101) {
                    switched = true;
                    // the hop waits (AUTO_READ off) until the client's connection is taken over
                    SocketBridge.reading(hop, false);
                    out.headers()
                            .set("Connection", "Upgrade")
                            .set("Upgrade", r.headers().get("Upgrade"));
                    in.toNetSocket().onComplete(this::join);
                    return;
                }
                if (!r.headers().contains("Content-Length")) {
                    out.setChunked(true);
                }
                out.drainHandler(v -> SocketBridge.reading(hop, true));
                return;
            }
            if (switched) {
                if (msg instanceof ByteBuf raw && raw.isReadable()) {
                    early.appendBytes(ByteBufUtil.getBytes(raw)); // after a 101 the decoder passes bytes on as they are
                }
                return;
            }
            if (msg instanceof HttpContent c && answered && !ended) {
                if (c.decoderResult().isFailure()) {
                    hop.close();
                    out.reset();
                    return;
                }
                if (c.content().isReadable()) {
                    out.write(Buffer.buffer(ByteBufUtil.getBytes(c.content())));
                    if (out.writeQueueFull()) {
                        SocketBridge.reading(hop, false);
                    }
                }
                if (c instanceof LastHttpContent) {
                    ended = true;
                    out.end();
                    hop.close();
                }
            }
        }

        private void join(io.vertx.core.AsyncResult<NetSocket> s) {
            if (s.failed()) {
                LOG.debugf("relayed upgrade of %s: %s", in.path(), s.cause().toString());
                hop.close();
                return;
            }
            NetSocket client = s.result();
            SocketBridge.configure(client);
            spliced = true;
            decoder.finishAndReleaseAll();
            Splice.start(vertx, client, hop, early, halfClosed, (up, down, timedOut) -> {
                LOG.debugf(
                        "relayed upgrade of %s from %s ended: %d bytes up, %d down%s",
                        in.path(),
                        clientAddress,
                        up,
                        down,
                        timedOut ? " (closed: half-closed for longer than " + halfClosed + ")" : "");
            });
        }

        /** The owner closed the hop before the splice: an answer cut short, or none at all. */
        void hopClosed() {
            if (spliced) {
                return;
            }
            decoder.finishAndReleaseAll();
            if (!answered) {
                failed.accept(new IllegalStateException("the owner closed the connection without an answer"));
            } else if (!ended && !switched) {
                // an answer without a length ends with the connection
                ended = true;
                if (out.isChunked()) {
                    out.end();
                } else {
                    out.reset();
                }
            }
        }
    }

    static void text(HttpServerResponse response, int status, String message) {
        if (response.ended() || response.closed()) {
            return;
        }
        response.setStatusCode(status)
                .putHeader("Content-Type", "text/plain; charset=utf-8")
                .putHeader("Cache-Control", "no-store")
                .end(message + "\n");
    }

    @PreDestroy
    void close() {
        if (http != null) {
            http.close();
        }
        if (ws != null) {
            ws.close();
        }
    }
}
