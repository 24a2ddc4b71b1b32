package dev.splitstream.exit.route;

import dev.splitstream.bridge.StreamEndpoint;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.impl.ContextInternal;
import io.vertx.core.net.NetSocket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * One HTTP request through a route: the client's request is written onto a stream to the agent's HTTP service as
 * HTTP/1.1 (Netty's {@link HttpRequestEncoder}), the service's answer is parsed back ({@link HttpResponseDecoder}) and
 * streamed to the client. One stream per request ({@code Connection: close} towards the service), so a request never
 * waits behind another.
 *
 * <p>Two threads meet here, as in the bridge: the client's HTTP connection (its event loop) and the agent's session.
 * Every crossing goes through {@link #onHttp} or {@link #onStream}. Backpressure: the request body pauses while
 * {@link Stream#write} says the stream is full and resumes on {@link #onWritable}; the response's receive credit is
 * returned with {@link Stream#consumed} while the client's write queue has room, else when it drains. Nothing is
 * buffered beyond one stream window either way.
 *
 * <p>After a {@code 101 Switching Protocols} (WebSocket and other upgrades) both sides relay raw bytes.
 */
final class RouteExchange implements StreamEndpoint {
    private static final Logger LOG = Logger.getLogger(RouteExchange.class);

    /** Hop-by-hop headers (RFC 9110 7.6.1, plus the legacy ones proxies drop) and our own route header. */
    private static final Set<String> HOP_BY_HOP = Set.of(
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade");

    /**
     * Headers that never leave the exit towards the service. {@code Expect} is answered here: the exit sends
     * {@code 100 Continue} itself once the agent's service is connected, and drops the service's interim responses.
     */
    private static final Set<String> PRIVATE = Set.of("x-token", "x-host", "expect");

    /** Longest response head the decoder accepts from a service. */
    private static final int MAX_RESPONSE_HEAD = 64 * 1024;

    interface Done {
        void done(String method, int status, long nanos, long bytesIn, long bytesOut);
    }

    private final HttpServerRequest request;
    private final HttpServerResponse response;
    private final ContextInternal httpContext;
    private final String uri;
    private final String serviceHost;
    private final Done done;
    private final long started = System.nanoTime();
    private final boolean upgrade;
    private final boolean hub;

    // Owned by the HTTP thread.
    private final EmbeddedChannel encoder = new EmbeddedChannel(new HttpRequestEncoder());
    private final EmbeddedChannel decoder;
    private boolean requestEnded;
    private boolean headSent;
    private boolean responseStarted;
    private boolean finished;
    private boolean upgraded;
    private boolean skippingInterim;
    private NetSocket tunnel;
    /** Bytes the service sent right after its 101, before the client's socket is ready (at most one DATA payload). */
    private final List<ByteBuf> early = new ArrayList<>();

    private long pendingCredit;
    private int status;
    private long bytesIn;
    private long bytesOut;

    // Owned by the stream's thread.
    private Stream stream;
    private boolean streamDone;

    private volatile ContextInternal streamContext;
    private volatile boolean clientGone;

    RouteExchange(HttpServerRequest request, String uri, String serviceHost, boolean hub, Done done) {
        this.hub = hub;
        this.request = request;
        this.response = request.response();
        this.httpContext = (ContextInternal) Vertx.currentContext();
        this.uri = uri;
        this.serviceHost = serviceHost;
        this.done = done;
        this.upgrade = isUpgrade(request);
        boolean head = request.method() == io.vertx.core.http.HttpMethod.HEAD;
        this.decoder = new EmbeddedChannel(new HttpResponseDecoder(4096, MAX_RESPONSE_HEAD, 8192) {
            @Override
            protected boolean isContentAlwaysEmpty(io.netty.handler.codec.http.HttpMessage msg) {
                // A response to HEAD announces a length but carries no body (RFC 9110 9.3.2).
                return head || super.isContentAlwaysEmpty(msg);
            }
        });
        request.pause();
        response.closeHandler(v -> clientClosed());
        response.exceptionHandler(t -> clientClosed());
    }

    private static boolean isUpgrade(HttpServerRequest request) {
        String connection = request.getHeader("Connection");
        return request.getHeader("Upgrade") != null
                && connection != null
                && connection.toLowerCase(Locale.ROOT).contains("upgrade");
    }

    // ------------------------------------------------------------------ stream side (session thread)

    @Override
    public void onOpen(Stream s) {
        this.streamContext = (ContextInternal) Vertx.currentContext();
        this.stream = s;
        if (clientGone) {
            resetStream(ResetCode.CANCELLED, "the HTTP client went away");
        }
    }

    @Override
    public void onAccepted(Stream s) {
        onHttp(this::sendHead);
    }

    @Override
    public void onOpenFailed(ResetCode code, String message) {
        onHttp(() -> {
            int st =
                    switch (code) {
                        case TOO_MANY_STREAMS -> 503;
                        // The Hub says "agent offline" (DESIGN.md); a route says the gateway timed out.
                        case TIMEOUT -> hub ? 503 : 504;
                        case NOT_ALLOWED -> 404;
                        default -> 502;
                    };
            fail(st, st == 404 ? "no such route" : message);
        });
    }

    @Override
    public boolean isAbandoned() {
        return clientGone;
    }

    @Override
    public void onData(Stream s, ByteBuffer data) {
        int n = data.remaining();
        ByteBuf buf = Unpooled.wrappedBuffer(data);
        onHttp(() -> fromService(buf, n));
    }

    @Override
    public void onFin(Stream s) {
        onHttp(this::serviceFinished);
    }

    @Override
    public void onReset(Stream s, ResetCode code, String message) {
        streamDone = true;
        onHttp(() -> {
            if (!responseStarted && code == ResetCode.NOT_ALLOWED) {
                fail(403, "refused by the agent: " + message);
            } else if (!responseStarted) {
                fail(502, "the agent's service did not answer: " + message);
            } else if (!finished) {
                LOG.debugf("route stream reset mid-response: %s %s", code, message);
                abortClient();
            }
        });
    }

    @Override
    public void onWritable(Stream s) {
        onHttp(() -> {
            if (upgraded && tunnel != null) {
                tunnel.resume();
            } else if (!finished) {
                request.resume();
            }
        });
    }

    private void write(ByteBuffer data) {
        onStream(() -> {
            if (streamDone || stream == null) {
                return;
            }
            if (!stream.write(data)) {
                onHttp(() -> {
                    if (upgraded && tunnel != null) {
                        tunnel.pause();
                    } else {
                        request.pause();
                    }
                });
            }
        });
    }

    /** The response is complete: a clean end when the request was sent whole, else a reset. */
    private void endStream() {
        if (!requestEnded) {
            resetStream(ResetCode.CANCELLED, "the response ended before the request body");
            return;
        }
        onStream(() -> {
            if (stream != null && !streamDone) {
                streamDone = true;
                stream.finish();
            }
        });
    }

    private void resetStream(ResetCode code, String message) {
        onStream(() -> {
            if (stream != null && !streamDone) {
                streamDone = true;
                stream.reset(code, message);
            }
        });
    }

    private void credit(long n) {
        if (n <= 0) {
            return;
        }
        onStream(() -> {
            if (stream != null && !streamDone) {
                stream.consumed((int) n);
            }
        });
    }

    // ------------------------------------------------------------------ HTTP side (client's thread)

    private void sendHead() {
        if (clientGone || finished) {
            return;
        }
        DefaultHttpRequest head = new DefaultHttpRequest(
                HttpVersion.HTTP_1_1, HttpMethod.valueOf(request.method().name()), uri);
        HttpHeaders h = head.headers();
        Set<String> listed = connectionListed(request.headers().getAll("Connection"));
        for (Map.Entry<String, String> e : request.headers()) {
            String name = e.getKey().toLowerCase(Locale.ROOT);
            if (HOP_BY_HOP.contains(name) || listed.contains(name) || PRIVATE.contains(name)) {
                continue;
            }
            if (name.startsWith("x-forwarded-") || name.equals("host")) {
                continue;
            }
            h.add(e.getKey(), e.getValue());
        }
        String te = request.getHeader("Transfer-Encoding");
        boolean chunked = te != null && te.toLowerCase(Locale.ROOT).contains("chunked");
        if (chunked) {
            h.remove(HttpHeaderNames.CONTENT_LENGTH);
            h.set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
        }
        h.set(HttpHeaderNames.HOST, serviceHost);
        String forwardedFor = request.getHeader("X-Forwarded-For");
        String client = request.remoteAddress() == null
                ? "unknown"
                : request.remoteAddress().hostAddress();
        h.set("X-Forwarded-For", forwardedFor == null ? client : forwardedFor + ", " + client);
        h.set("X-Forwarded-Proto", request.isSSL() ? "https" : "http");
        if (request.authority() != null) {
            h.set("X-Forwarded-Host", request.authority().toString());
        }
        if (upgrade) {
            h.set(HttpHeaderNames.CONNECTION, "upgrade");
            h.set(HttpHeaderNames.UPGRADE, request.getHeader("Upgrade"));
        } else {
            h.set(HttpHeaderNames.CONNECTION, "close");
        }
        headSent = true;
        encode(head);
        String expect = request.getHeader("Expect");
        if (expect != null && expect.equalsIgnoreCase("100-continue")) {
            response.writeContinue();
        }
        request.handler(chunk -> {
            bytesIn += chunk.length();
            encode(new DefaultHttpContent(Unpooled.wrappedBuffer(chunk.getBytes())));
        });
        request.endHandler(v -> {
            if (!upgraded && !finished) {
                encode(LastHttpContent.EMPTY_LAST_CONTENT);
            }
            requestEnded = true;
        });
        request.resume();
    }

    private static Set<String> connectionListed(List<String> values) {
        Set<String> out = new HashSet<>();
        for (String v : values) {
            for (String token : v.split(",")) {
                out.add(token.trim().toLowerCase(Locale.ROOT));
            }
        }
        return out;
    }

    private void encode(Object message) {
        encoder.writeOutbound(message);
        ByteBuf out;
        while ((out = encoder.readOutbound()) != null) {
            try {
                if (out.isReadable()) {
                    write(ByteBuffer.wrap(ByteBufUtil.getBytes(out)));
                }
            } finally {
                out.release();
            }
        }
    }

    private void fromService(ByteBuf data, int n) {
        if (finished) {
            credit(n);
            return;
        }
        if (upgraded) {
            toTunnel(data, n);
            return;
        }
        decoder.writeInbound(data);
        drainDecoder();
        if (upgraded || finished) {
            credit(n); // after a 101 the bytes went to the tunnel (or wait in `early`); after the end, nowhere
        } else if (response.writeQueueFull()) {
            pendingCredit += n;
        } else {
            credit(n);
        }
    }

    private void drainDecoder() {
        Object msg;
        while ((msg = decoder.readInbound()) != null) {
            if (msg instanceof HttpResponse r) {
                int code = r.status().code();
                if (code >= 100 && code < 200 && code != 101) {
                    // An interim answer (100 Continue, 103 Early Hints): the client got its own 100 from the exit.
                    skippingInterim = true;
                    release(msg);
                    continue;
                }
                skippingInterim = false;
                if (r.decoderResult().isFailure()) {
                    fail(502, "the agent's service sent an invalid HTTP response");
                    release(msg);
                    continue;
                }
                startResponse(r);
            }
            if (msg instanceof HttpContent c) {
                if (skippingInterim) {
                    if (c instanceof LastHttpContent) {
                        skippingInterim = false;
                    }
                    c.release();
                    continue;
                }
                try {
                    if (!finished && !upgraded) {
                        if (c.decoderResult().isFailure()) {
                            abortClient();
                        } else if (c.content().isReadable()) {
                            bytesOut += c.content().readableBytes();
                            response.write(Buffer.buffer(ByteBufUtil.getBytes(c.content())));
                        }
                        if (c instanceof LastHttpContent && !finished) {
                            finished = true;
                            response.end();
                            complete();
                            endStream();
                        }
                    }
                } finally {
                    c.release();
                }
            } else if (msg instanceof ByteBuf raw) {
                // After a 101 the decoder passes bytes through as they are.
                if (tunnel != null) {
                    bytesOut += raw.readableBytes();
                    tunnel.write(Buffer.buffer(ByteBufUtil.getBytes(raw)));
                    raw.release();
                } else if (upgraded && !finished) {
                    early.add(raw);
                } else {
                    raw.release();
                }
            }
        }
    }

    private static void release(Object msg) {
        if (msg instanceof io.netty.util.ReferenceCounted rc) {
            rc.release();
        }
    }

    private void startResponse(HttpResponse r) {
        if (responseStarted || clientGone) {
            return;
        }
        responseStarted = true;
        status = r.status().code();
        Set<String> listed = connectionListed(r.headers().getAll(HttpHeaderNames.CONNECTION));
        if (status == 101 && upgrade) {
            for (Map.Entry<String, String> e : r.headers()) {
                String name = e.getKey().toLowerCase(Locale.ROOT);
                if (!name.equals("connection") && !name.equals("upgrade")) {
                    response.headers().add(e.getKey(), e.getValue());
                }
            }
            upgraded = true;
            request.toNetSocket().onComplete(ar -> {
                if (ar.failed()) {
                    LOG.debugf("upgrade failed: %s", ar.cause().toString());
                    resetStream(ResetCode.CANCELLED, "the client's upgrade failed");
                    return;
                }
                startTunnel(ar.result());
            });
            return;
        }
        response.setStatusCode(status);
        if (r.status().reasonPhrase() != null) {
            response.setStatusMessage(r.status().reasonPhrase());
        }
        for (Map.Entry<String, String> e : r.headers()) {
            String name = e.getKey().toLowerCase(Locale.ROOT);
            if (HOP_BY_HOP.contains(name) || listed.contains(name)) {
                continue;
            }
            response.headers().add(e.getKey(), e.getValue());
        }
        boolean hasLength = r.headers().contains(HttpHeaderNames.CONTENT_LENGTH);
        boolean noBody = status == 204
                || status == 304
                || (status >= 100 && status < 200)
                || request.method() == io.vertx.core.http.HttpMethod.HEAD;
        if (!hasLength && !noBody) {
            response.setChunked(true);
        }
        response.drainHandler(v -> {
            long n = pendingCredit;
            pendingCredit = 0;
            credit(n);
        });
        // Headers go out at once: server-sent events and long polls must not wait for the first body bytes.
        response.writeHead();
    }

    private void startTunnel(NetSocket socket) {
        tunnel = socket;
        socket.handler(buf -> {
            bytesIn += buf.length();
            write(ByteBuffer.wrap(buf.getBytes()));
        });
        socket.closeHandler(v -> {
            if (!finished) {
                finished = true;
                complete();
            }
            resetStream(ResetCode.CANCELLED, "the HTTP client closed the upgraded connection");
        });
        socket.drainHandler(v -> {
            long n = pendingCredit;
            pendingCredit = 0;
            credit(n);
        });
        // Bytes the service sent right after its 101.
        for (ByteBuf raw : early) {
            bytesOut += raw.readableBytes();
            socket.write(Buffer.buffer(ByteBufUtil.getBytes(raw)));
            raw.release();
        }
        early.clear();
        drainDecoder();
    }

    private void toTunnel(ByteBuf data, int n) {
        if (tunnel == null) {
            // toNetSocket has not completed yet: the decoder (in its upgraded state) keeps the bytes until then.
            decoder.writeInbound(data);
            credit(n);
            return;
        }
        bytesOut += n;
        tunnel.write(Buffer.buffer(ByteBufUtil.getBytes(data)));
        data.release();
        if (tunnel.writeQueueFull()) {
            pendingCredit += n;
        } else {
            credit(n);
        }
    }

    private void serviceFinished() {
        if (finished && !upgraded) {
            return;
        }
        if (upgraded) {
            if (tunnel != null) {
                tunnel.end();
            }
            return;
        }
        decoder.finish();
        drainDecoder();
        if (finished) {
            return;
        }
        if (!responseStarted) {
            fail(502, "the agent's service closed the connection without an answer");
        } else {
            // A response without length ends when the service closes (the decoder ended it above when it could).
            abortClient();
        }
    }

    private void fail(int st, String message) {
        if (finished || clientGone) {
            return;
        }
        finished = true;
        status = st;
        resetStream(ResetCode.CANCELLED, "request ended: " + st);
        if (responseStarted) {
            abortClient();
            return;
        }
        responseStarted = true;
        response.setStatusCode(st)
                .putHeader("Content-Type", "text/plain; charset=utf-8")
                .putHeader("Connection", "close")
                .end(message + "\n");
        complete();
    }

    private void abortClient() {
        if (!finished) {
            finished = true;
            complete();
        }
        request.connection().close();
    }

    private void clientClosed() {
        clientGone = true;
        resetStream(ResetCode.CANCELLED, "the HTTP client went away");
        if (!finished) {
            finished = true;
            if (status == 0) {
                status = 499;
            }
            complete();
        }
    }

    private boolean completed;

    private void complete() {
        if (completed) {
            return;
        }
        completed = true;
        encoder.finishAndReleaseAll();
        decoder.finishAndReleaseAll();
        early.forEach(ByteBuf::release);
        early.clear();
        done.done(request.method().name(), status, System.nanoTime() - started, bytesIn, bytesOut);
    }

    private void onStream(Runnable r) {
        ContextInternal ctx = streamContext;
        if (ctx == null) {
            return;
        }
        run(ctx, r);
    }

    private void onHttp(Runnable r) {
        run(httpContext, r);
    }

    private void run(ContextInternal ctx, Runnable r) {
        if (ctx.nettyEventLoop().inEventLoop()) {
            guarded(r);
        } else {
            ctx.runOnContext(v -> guarded(r));
        }
    }

    /** A bug here must end this request, never the agent's session whose thread may be running it. */
    private void guarded(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.warnf(e, "route request failed");
            clientGone = true;
            onStream(() -> {
                if (stream != null && !streamDone) {
                    streamDone = true;
                    stream.reset(ResetCode.INTERNAL, "route request failed on the exit");
                }
            });
            try {
                request.connection().close(); // Vert.x closes from any thread
            } catch (RuntimeException ignored) {
                // already closed
            }
        }
    }

    /** For tests: the headers a request towards the service loses. */
    static List<String> hopByHop() {
        return new ArrayList<>(HOP_BY_HOP);
    }
}
