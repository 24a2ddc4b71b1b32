package dev.splitstream.entry.it;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.RequestOptions;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A tiny HTTP reverse proxy on loopback in front of the exit node, standing for the middleboxes the transports must
 * cope with: {@link Mode#REFUSE_UPGRADE} answers 403 to WebSocket upgrades and streams everything else through;
 * {@link Mode#BUFFER} also refuses upgrades and holds every response until it is complete (a buffering proxy);
 * {@link Mode#FLAKY_UP} streams, but answers 502 to some upstream POSTs: every 5th after forwarding it (the response
 * is lost), every 7th without forwarding it (the request is lost); {@link Mode#FAIL_UP} streams, but answers 500 to
 * every upstream POST while {@link #failing} is set (a broken proxy or load balancer).
 */
final class HttpRelay implements AutoCloseable {
    enum Mode {
        REFUSE_UPGRADE,
        BUFFER,
        FLAKY_UP,
        FAIL_UP
    }

    private final Vertx vertx = Vertx.vertx();
    private final HttpServer server;
    private final HttpClient client;
    private final int targetPort;
    private final Mode mode;
    final AtomicLong refusedUpgrades = new AtomicLong();
    final AtomicLong requests = new AtomicLong();
    final AtomicLong upPosts = new AtomicLong();
    final AtomicLong failedUpPosts = new AtomicLong();
    /** Every POST to {@code .../up} (FAIL_UP), and every POST at all, as they arrived. */
    final AtomicLong allUpPosts = new AtomicLong();

    final AtomicLong posts = new AtomicLong();
    /** FAIL_UP: answer 500 to upstream POSTs while set. */
    volatile boolean failing = true;
    /** Requests that carried X-Splitstream-Session, by its value. */
    final java.util.Map<String, AtomicLong> sessionHeaders = new java.util.concurrent.ConcurrentHashMap<>();

    HttpRelay(int targetPort, Mode mode) throws Exception {
        this.targetPort = targetPort;
        this.mode = mode;
        this.client = vertx.createHttpClient(new HttpClientOptions().setMaxPoolSize(32));
        this.server = vertx.createHttpServer()
                .requestHandler(this::handle)
                .listen(0, "127.0.0.1")
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
    }

    int port() {
        return server.actualPort();
    }

    private void handle(HttpServerRequest in) {
        requests.incrementAndGet();
        String session = in.getHeader("X-Splitstream-Session");
        if (session != null) {
            sessionHeaders.computeIfAbsent(session, k -> new AtomicLong()).incrementAndGet();
        }
        if (in.method() == io.vertx.core.http.HttpMethod.POST) {
            posts.incrementAndGet();
            if (in.path().endsWith("/up")) {
                allUpPosts.incrementAndGet();
                if (mode == Mode.FAIL_UP && failing) {
                    failedUpPosts.incrementAndGet();
                    in.body().onComplete(b -> in.response().setStatusCode(500).end("upstream is broken"));
                    return;
                }
            }
        }
        String upgrade = in.getHeader("Upgrade");
        if (upgrade != null) {
            refusedUpgrades.incrementAndGet();
            in.response().setStatusCode(403).end("no websockets here");
            return;
        }
        boolean upBatch =
                mode == Mode.FLAKY_UP && in.path().endsWith("/up") && !"0".equals(in.getHeader("Content-Length"));
        long nth = upBatch ? upPosts.incrementAndGet() : 0;
        if (upBatch && nth % 7 == 0) {
            failedUpPosts.incrementAndGet();
            in.body().onComplete(b -> in.response().setStatusCode(502).end());
            return;
        }
        boolean loseResponse = upBatch && nth % 5 == 0;
        in.pause();
        RequestOptions o = new RequestOptions()
                .setMethod(in.method())
                .setHost("127.0.0.1")
                .setPort(targetPort)
                .setURI(in.uri())
                .setHeaders(io.vertx.core.MultiMap.caseInsensitiveMultiMap()
                        .addAll(in.headers())
                        .remove("Host")
                        .remove("Connection"));
        client.request(o).onComplete(ar -> {
            if (ar.failed()) {
                in.response().setStatusCode(502).end();
                return;
            }
            var out = ar.result();
            in.response().closeHandler(v -> out.reset());
            in.body().onSuccess(body -> out.send(body).onComplete(rar -> {
                if (rar.failed()) {
                    if (!in.response().ended()) {
                        in.response().setStatusCode(502).end();
                    }
                    return;
                }
                var resp = rar.result();
                if (loseResponse) {
                    failedUpPosts.incrementAndGet();
                    resp.body().onComplete(b -> in.response().setStatusCode(502).end());
                    return;
                }
                var response = in.response().setStatusCode(resp.statusCode());
                resp.headers().forEach(h -> {
                    String n = h.getKey();
                    if (!n.equalsIgnoreCase("Transfer-Encoding")
                            && !n.equalsIgnoreCase("Content-Length")
                            && !n.equalsIgnoreCase("Connection")) {
                        response.putHeader(n, h.getValue());
                    }
                });
                if (mode == Mode.BUFFER) {
                    resp.body().onComplete(b -> response.end(b.succeeded() ? b.result() : Buffer.buffer()));
                } else {
                    response.setChunked(true);
                    resp.handler(response::write);
                    resp.endHandler(v -> response.end());
                    resp.exceptionHandler(t -> response.reset());
                }
            }));
            in.resume();
        });
    }

    @Override
    public void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
