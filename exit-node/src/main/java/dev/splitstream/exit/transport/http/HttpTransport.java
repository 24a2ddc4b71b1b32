package dev.splitstream.exit.transport.http;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.relay.LegRelay;
import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.exit.transport.ClientAddress;
import dev.splitstream.exit.transport.LegHandshake;
import dev.splitstream.exit.transport.SourceSlots;
import dev.splitstream.exit.transport.TransportDeps;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ReplayGuard;
import io.netty.buffer.Unpooled;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * The plain-HTTP transport under {@value #BASE}, for paths that carry no WebSocket: a two-request handshake, upstream
 * frames in POST bodies, downstream frames in long GET responses (streamed, or polled where a proxy buffers). Routes
 * run on Vert.x event loops and never block; everything touching a session hops to the session's context.
 */
@ApplicationScoped
public class HttpTransport {
    /** Base path of the transport (wire contract with the entry node). */
    public static final String BASE = "/splitstream/v1/http";

    static final String HANDSHAKE_HEADER = "X-Splitstream-Handshake";
    static final String LEG_HEADER = "X-Splitstream-Leg";
    static final String SESSION_HEADER = "X-Splitstream-Session";
    static final String LAST_RECEIVED_HEADER = "X-Splitstream-Last-Received";
    /** WELCOME answer: how many numbered upstream POSTs the leg may have in flight. */
    static final String UP_WINDOW_HEADER = "X-Splitstream-Up-Window";
    /** Upstream POST: its number on the leg (1, 2, 3...), when the exit announced an up-window. */
    static final String BATCH_HEADER = "X-Splitstream-Batch";
    /** Empty upstream POST after a failure: numbering restarts at this value; held batches are dropped. */
    static final String BATCH_RESET_HEADER = "X-Splitstream-Batch-Reset";

    static final String CONTENT_TYPE = "application/octet-stream";

    private static final Logger LOG = Logger.getLogger(HttpTransport.class);
    /** A handshake body holds one HELLO or PROOF: a few hundred bytes. */
    private static final int MAX_HANDSHAKE_BODY = 16 * 1024;
    /** Past this much of an oversized body the connection is closed instead of reading it to the end for a clean 413. */
    private static final long MAX_DISCARD = 16L * 1024 * 1024;

    private final TransportDeps deps;
    private final ExitSettings.Http http;
    private final ConcurrentHashMap<String, PendingHandshake> handshakes = new ConcurrentHashMap<>();
    /** Pending NEW handshakes: what a flood of HELLOs with a valid token id can fill, up to its per-source share. */
    private final SourceSlots pendingNew;
    /** Pending RESUME/JOIN handshakes (they name a live session): their own pool, so a flood does not lock them out. */
    private final SourceSlots pendingJoin;

    private final ConcurrentHashMap<String, HttpLeg> legs = new ConcurrentHashMap<>();
    private long sweeper = -1;

    /** A handshake between its HELLO and its PROOF, holding a slot of {@code pool} for {@code source}. */
    private record PendingHandshake(LegHandshake handshake, long timer, SourceSlots pool, String source) {}

    public HttpTransport(
            Vertx vertx,
            ExitSettings settings,
            TokenRegistry tokens,
            SessionRegistry sessions,
            ExitMetrics metrics,
            ReplayGuard replay,
            LegRelay relay) {
        this.deps = new TransportDeps(vertx, settings, tokens, sessions, replay, metrics, new SecureRandom(), relay);
        this.http = settings.http();
        this.pendingNew = new SourceSlots(http.maxPendingHandshakes(), http.maxPendingHandshakesPerSource());
        this.pendingJoin = new SourceSlots(http.maxPendingHandshakes(), http.maxPendingHandshakesPerSource());
        metrics.gauge(
                "splitstream.exit.http.pending.handshakes",
                "HTTP handshakes between HELLO and PROOF (NEW and RESUME/JOIN pools together)",
                () -> pendingNew.size() + pendingJoin.size());
    }

    void routes(@Observes Router router) {
        router.post(BASE + "/handshake").handler(this::handshake);
        router.post(BASE + "/up").handler(this::up);
        router.get(BASE + "/down").handler(this::down);
        long every = Math.max(250, Math.min(5_000, http.legTimeout().toMillis() / 4));
        sweeper = deps.vertx().setPeriodic(every, id -> {
            expireIdleLegs();
            LegHandshake.REFUSALS.flush();
        });
    }

    @PreDestroy
    void stop() {
        if (sweeper >= 0) {
            deps.vertx().cancelTimer(sweeper);
        }
    }

    TransportDeps deps() {
        return deps;
    }

    ExitSettings.Http http() {
        return http;
    }

    /** Number of live legs (for tests and health). */
    public int legCount() {
        return legs.size();
    }

    /** Numbered upstream batches waiting for a predecessor, all legs (for tests). */
    int heldBatches() {
        return legs.values().stream().mapToInt(HttpLeg::heldCount).sum();
    }

    // ---------------------------------------------------------------- handshake

    private void handshake(RoutingContext ctx) {
        deps.metrics().httpRequest("handshake");
        String source = ClientAddress.of(ctx.request());
        readBody(ctx, MAX_HANDSHAKE_BODY, body -> {
            String id = ctx.request().getHeader(HANDSHAKE_HEADER);
            if (id == null) {
                deps.relay().httpHello(ctx, body, () -> hello(ctx.response(), body, source));
            } else {
                proof(
                        ctx.response(),
                        id,
                        body,
                        deps.relay().inbound(ctx.request()).clientAddress());
            }
        });
    }

    private void hello(HttpServerResponse response, Buffer body, String source) {
        LegHandshake hs = new LegHandshake(deps);
        Frame.Challenge challenge;
        Frame.Hello hello;
        try {
            Frame frame = hs.codec().decodeMessage(nio(body));
            challenge = hs.onHello(frame);
            hello = (Frame.Hello) frame;
        } catch (ProtocolException e) {
            refuse(hs, response, e.code(), e.getMessage());
            return;
        }
        // The checks above keep no state; a slot is taken only for a HELLO that could go on to a session.
        SourceSlots pool = hello.intent() == Frame.Intent.NEW ? pendingNew : pendingJoin;
        SourceSlots.Refusal refusal = pool.acquire(source);
        if (refusal != SourceSlots.Refusal.NONE) {
            String what = hello.intent() == Frame.Intent.NEW ? "HTTP handshakes" : "HTTP resume/join handshakes";
            refuse(
                    hs,
                    response,
                    CloseCode.LIMIT_EXCEEDED,
                    refusal == SourceSlots.Refusal.SOURCE
                            ? "too many " + what + " in progress from " + source + " (max " + pool.maxPerSource() + ")"
                            : "too many " + what + " in progress (max " + pool.max() + ")");
            return;
        }
        String id = randomHex();
        long ms = http.handshakeTimeout().toMillis();
        long timer = deps.vertx().setTimer(ms, t -> {
            PendingHandshake expired = handshakes.remove(id);
            if (expired != null) {
                expired.pool().release(expired.source());
                expired.handshake().refused(CloseCode.TIMEOUT, "HTTP handshake not completed within " + ms + "ms");
            }
        });
        handshakes.put(id, new PendingHandshake(hs, timer, pool, source));
        response.putHeader(HANDSHAKE_HEADER, id);
        reply(response, 200, hs.codec(), challenge);
    }

    private void proof(HttpServerResponse response, String id, Buffer body, String remote) {
        PendingHandshake pending = handshakes.remove(id);
        if (pending == null) {
            LegHandshake.refused(
                    deps,
                    "unknown_handshake",
                    CloseCode.TIMEOUT,
                    "HTTP handshake unknown or expired: start with HELLO");
            reply(
                    response,
                    404,
                    new FrameCodec(deps.settings().limits()),
                    new Frame.Close(CloseCode.TIMEOUT, "handshake unknown or expired: start again with HELLO"));
            return;
        }
        deps.vertx().cancelTimer(pending.timer());
        pending.pool().release(pending.source());
        LegHandshake hs = pending.handshake();
        Frame frame;
        HandshakeResult result;
        try {
            frame = hs.codec().decodeMessage(nio(body));
            if (frame instanceof Frame.Close close) {
                LOG.debugf("client gave up the handshake: %s %s", close.code(), close.message());
                response.setStatusCode(204).end();
                return;
            }
            result = hs.onProof(frame);
        } catch (ProtocolException e) {
            refuse(hs, response, e.code(), e.getMessage());
            return;
        }
        HttpLeg leg = new HttpLeg(randomHex(), this, hs.codec(), result, response);
        leg.remoteAddress(remote);
        try {
            hs.admit(result, leg);
        } catch (ProtocolException e) {
            leg.abandon();
            refuse(hs, response, e.code(), e.getMessage());
        }
    }

    private static void refuse(LegHandshake hs, HttpServerResponse response, CloseCode code, String message) {
        hs.refused(code, message);
        reply(response, status(code), hs.encoder(), new Frame.Close(code, message));
    }

    /** HTTP status of a refusal (wire contract): 403 auth/replay/stale, 409 version, 404 unknown session. */
    static int status(CloseCode code) {
        return switch (code) {
            case AUTH_FAILED, REPLAY, STALE -> 403;
            case VERSION_MISMATCH, ENCRYPTION_MISMATCH -> 409;
            case UNKNOWN_SESSION, TIMEOUT -> 404;
            case LIMIT_EXCEEDED -> 503;
            case GOING_AWAY -> 503;
            default -> 400;
        };
    }

    // ---------------------------------------------------------------- upstream and downstream

    private void up(RoutingContext ctx) {
        deps.metrics().httpRequest("up");
        HttpLeg leg = leg(ctx.request().getHeader(LEG_HEADER));
        if (leg == null) {
            // Nobody will use this body (it may be hundreds of megabytes): answer, then close instead of draining it.
            HttpServerRequest request = ctx.request();
            HttpServerResponse response = ctx.response();
            request.pause();
            response.putHeader("Connection", "close")
                    .putHeader("Content-Type", "text/plain; charset=utf-8")
                    .putHeader("Cache-Control", "no-store")
                    .setStatusCode(404)
                    .end("unknown or expired leg: handshake again (RESUME or JOIN)\n")
                    .onComplete(ar -> request.connection().close());
            return;
        }
        long batch;
        long reset;
        try {
            batch = number(ctx.request().getHeader(BATCH_HEADER));
            reset = number(ctx.request().getHeader(BATCH_RESET_HEADER));
        } catch (NumberFormatException e) {
            text(ctx.response(), 400, BATCH_HEADER + " and " + BATCH_RESET_HEADER + " must be positive numbers");
            return;
        }
        leg.requestStarted(ctx.response());
        readBody(ctx, http.maxBatch(), body -> {
            deps.metrics().httpBytesUp(body.length());
            if (batch == 0 && reset == 0) {
                leg.upstream(ctx.response(), body);
            } else {
                leg.upstreamNumbered(ctx.response(), body, batch, reset);
            }
        });
    }

    private void down(RoutingContext ctx) {
        deps.metrics().httpRequest("down");
        HttpServerRequest request = ctx.request();
        String id = request.getParam("leg");
        HttpLeg leg = leg(id != null ? id : request.getHeader(LEG_HEADER));
        if (leg == null) {
            unknownLeg(ctx.response());
            return;
        }
        String mode = request.getParam("mode", "stream");
        if (!mode.equals("stream") && !mode.equals("poll")) {
            text(ctx.response(), 400, "mode must be stream or poll");
            return;
        }
        long last;
        try {
            last = Long.parseLong(request.getParam("last", "0"));
        } catch (NumberFormatException e) {
            text(ctx.response(), 400, "last must be a sequence number");
            return;
        }
        if (last < 0) {
            text(ctx.response(), 400, "last must be a sequence number");
            return;
        }
        leg.downstream(ctx.response(), last, mode.equals("poll"));
    }

    /** A positive number from a header, 0 when absent; NumberFormatException when malformed or not positive. */
    static long number(String header) {
        if (header == null) {
            return 0;
        }
        long n = Long.parseLong(header.trim());
        if (n <= 0) {
            throw new NumberFormatException("not positive: " + n);
        }
        return n;
    }

    /** True while the leg with this id is usable. */
    boolean hasLeg(String id) {
        return legs.containsKey(id);
    }

    private HttpLeg leg(String id) {
        return id == null ? null : legs.get(id);
    }

    private static void unknownLeg(HttpServerResponse response) {
        text(response, 404, "unknown or expired leg: handshake again (RESUME or JOIN)");
    }

    void register(HttpLeg leg) {
        legs.put(leg.id(), leg);
    }

    void unregister(HttpLeg leg) {
        legs.remove(leg.id(), leg);
    }

    private void expireIdleLegs() {
        long now = System.nanoTime();
        long limit = http.legTimeout().toNanos();
        for (HttpLeg leg : legs.values()) {
            if (leg.idleFor(now) > limit) {
                leg.expire();
            }
        }
    }

    ExitSession sessionOf(HandshakeResult result) {
        return deps.sessions().find(result.sessionId()).orElse(null);
    }

    // ---------------------------------------------------------------- helpers

    /**
     * Reads a request body of at most {@code max} bytes, then calls {@code onBody}. An oversized body is answered with
     * 413 (read to its end first, so the client sees the answer, up to a bound past which the connection is closed).
     */
    private static void readBody(RoutingContext ctx, int max, Handler<Buffer> onBody) {
        HttpServerRequest request = ctx.request();
        HttpServerResponse response = ctx.response();
        String length = request.getHeader("Content-Length");
        long announced = -1;
        if (length != null) {
            try {
                announced = Long.parseLong(length.trim());
            } catch (NumberFormatException e) {
                text(response, 400, "bad Content-Length");
                return;
            }
        }
        if (announced > MAX_DISCARD) {
            response.putHeader("Connection", "close");
            text(response, 413, "body of " + announced + " bytes exceeds " + max);
            return;
        }
        Buffer body = Buffer.buffer(announced >= 0 && announced <= max ? (int) announced : 4096);
        long[] seen = {0};
        request.handler(chunk -> {
            seen[0] += chunk.length();
            if (seen[0] > MAX_DISCARD) {
                if (!response.ended()) {
                    response.putHeader("Connection", "close");
                    text(response, 413, "body exceeds " + max + " bytes");
                    request.connection().close();
                }
                return;
            }
            if (seen[0] <= max) {
                body.appendBuffer(chunk);
            }
        });
        request.endHandler(v -> {
            if (response.ended()) {
                return;
            }
            if (seen[0] > max) {
                text(response, 413, "body of " + seen[0] + " bytes exceeds " + max);
                return;
            }
            onBody.handle(body);
        });
        request.exceptionHandler(t -> LOG.debugf("request body failed: %s", t.toString()));
    }

    static java.nio.ByteBuffer nio(Buffer body) {
        return body.getByteBuf().nioBuffer();
    }

    /** Answers with {@code frames} back to back (Content-Length). Any thread. */
    static void reply(HttpServerResponse response, int status, FrameCodec codec, Frame... frames) {
        Buffer out = Buffer.buffer();
        for (Frame f : frames) {
            out.appendBuffer(Buffer.buffer(Unpooled.wrappedBuffer(codec.encode(f))));
        }
        if (response.ended() || response.closed()) {
            return;
        }
        try {
            response.setStatusCode(status)
                    .putHeader("Content-Type", CONTENT_TYPE)
                    .putHeader("Cache-Control", "no-store")
                    .end(out);
        } catch (IllegalStateException e) {
            LOG.debugf("response already gone: %s", e.getMessage());
        }
    }

    static void text(HttpServerResponse response, int status, String message) {
        if (response.ended() || response.closed()) {
            return;
        }
        try {
            response.setStatusCode(status)
                    .putHeader("Content-Type", "text/plain; charset=utf-8")
                    .putHeader("Cache-Control", "no-store")
                    .end(message + "\n");
        } catch (IllegalStateException e) {
            LOG.debugf("response already gone: %s", e.getMessage());
        }
    }

    /** A random id, ending with {@code -<replica id>} when replicas share a registry (see LegRelay). */
    private String randomHex() {
        byte[] b = new byte[16];
        deps.random().nextBytes(b);
        return deps.relay().tag(HexFormat.of().formatHex(b));
    }
}
