package dev.splitstream.entry.transport.http;

import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.config.ServerEndpoint;
import dev.splitstream.entry.session.Backoff;
import dev.splitstream.entry.transport.Transport;
import dev.splitstream.entry.transport.ws.TrustStores;
import dev.splitstream.entry.transport.ws.WebSocketTransport;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameProtection;
import dev.splitstream.protocol.Limits;
import io.netty.buffer.Unpooled;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.TrustOptions;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/**
 * The plain-HTTP transport for paths without WebSocket: a two-request handshake ({@code POST handshake}), upstream
 * frames in {@code POST up} batches (numbered, as many in flight per leg as the exit announced in its WELCOME answer;
 * one at a time with an exit that announced nothing), downstream frames in long {@code GET down} responses,
 * streamed, or polled where something on the path buffers responses. Callbacks run on the context that called
 * {@link #connect}.
 */
public final class HttpTransport implements Transport {
    private static final Logger LOG = Logger.getLogger(HttpTransport.class);

    static final String HANDSHAKE_HEADER = "X-Splitstream-Handshake";
    static final String LEG_HEADER = "X-Splitstream-Leg";
    static final String LAST_RECEIVED_HEADER = "X-Splitstream-Last-Received";
    static final String UP_WINDOW_HEADER = "X-Splitstream-Up-Window";
    static final String BATCH_HEADER = "X-Splitstream-Batch";
    static final String BATCH_RESET_HEADER = "X-Splitstream-Batch-Reset";
    /** Most upstream POSTs in flight per leg, whatever the exit announces. */
    static final int MAX_UP_WINDOW = 16;

    /**
     * Connections to the exit: a leg's numbered POSTs (up to {@link #MAX_UP_WINDOW}) and its GET, twice, for the
     * requests of a leg that is being replaced. HTTP/1.1 carries one request per connection at a time; with a pool of
     * 8 an exit announcing more than 7 got at most 7 POSTs in flight. Connections open only when requests wait.
     */
    static final int MAX_POOL = 2 * (MAX_UP_WINDOW + 1);

    static final String CONTENT_TYPE = "application/octet-stream";

    /** A streamed downstream response must show its first frame (the exit pings first) within this time. */
    static final long FIRST_BYTES_MILLIS = 3_000;
    /** Time allowed for connecting and for a request's response headers, except downstream long polls. */
    static final int REQUEST_TIMEOUT_MILLIS = 15_000;
    /** A poll waits up to the exit's poll-wait (20 s by default); give up well after it. */
    static final int POLL_TIMEOUT_MILLIS = 60_000;
    /** Consecutive downstream failures after which the leg counts as lost. */
    static final int MAX_DOWN_FAILURES = 3;
    /** Failed attempts to learn what an upstream POST delivered, after which the leg counts as lost. */
    static final int MAX_UP_RETRIES = 4;
    /**
     * Retries within a leg wait from 250 ms, doubling with jitter, up to 2 s; after the limits above the leg fails and
     * the session's own reconnect backoff takes over (so a proxy answering 500 to everything gets a bounded rate).
     */
    static final Duration RETRY_MIN = Duration.ofMillis(250);

    static final Duration RETRY_MAX = Duration.ofSeconds(2);
    /** A downstream response that ends empty sooner than this counts as a failed poll (and backs off). */
    static final long EMPTY_RESPONSE_MILLIS = 1_000;
    /** Largest frame accepted from a response body. */
    static final int MAX_FRAME = Limits.HARD_MAX_PAYLOAD + FrameCodec.HEADER_LENGTH + FrameProtection.OVERHEAD;

    private final Vertx vertx;
    private final ServerEndpoint server;
    private final HttpClient client;
    private final int maxBatch;
    private final String authorization;
    private final boolean startInPoll;

    /**
     * @param poll start downstream requests in poll mode (a path known to buffer)
     */
    public HttpTransport(Vertx vertx, EntrySettings settings, ServerEndpoint server, boolean poll) {
        this.vertx = vertx;
        this.server = server;
        this.maxBatch = settings.httpMaxBatch();
        this.startInPoll = poll;
        HttpClientOptions options = new HttpClientOptions()
                .setTcpNoDelay(true)
                .setTcpKeepAlive(true)
                .setKeepAlive(true)
                .setConnectTimeout(REQUEST_TIMEOUT_MILLIS)
                .setVerifyHost(true)
                .setTrustAll(false)
                .setMaxPoolSize(MAX_POOL);
        if (server.tls()) {
            options.setSsl(true);
            settings.caFile().ifPresent(ca -> options.setTrustOptions(TrustOptions.wrap(TrustStores.withExtraCa(ca))));
        }
        settings.proxy().ifPresent(p -> options.setProxyOptions(WebSocketTransport.proxyOptions(p)));
        // A pooled connection that the path cuts while no request runs on it (a proxy or the exit going away) has no
        // request to fail; without a handler of its own Vert.x logged each such reset at ERROR. The requests that
        // were running fail on their own and the session resumes; the connection leaves the pool either way.
        this.client = vertx.httpClientBuilder()
                .with(options)
                .with(options.getPoolOptions()) // setMaxPoolSize's, as createHttpClient(options) takes them
                .withConnectHandler(connection -> connection.exceptionHandler(
                        e -> LOG.debugf("connection to %s failed: %s", server.display(), e.toString())))
                .build();
        this.authorization = server.basicUser()
                .map(u -> WebSocketTransport.basic(u, server.basicPassword()))
                .orElse(null);
    }

    @Override
    public String name() {
        return startInPoll ? "http-poll" : "http-stream";
    }

    @Override
    public String display() {
        return server.display();
    }

    @Override
    public Future<Connection> connect(String sessionIdHex, Direction direction, Handler handler) {
        return Future.succeededFuture(new HttpConnection(sessionIdHex, direction, handler));
    }

    @Override
    public Future<Void> close() {
        return client.close();
    }

    /** The exit's announced up-window, bounded; 1 when absent or malformed (one POST at a time, unnumbered). */
    static int upWindow(String header) {
        if (header == null) {
            return 1;
        }
        try {
            return Math.max(1, Math.min(MAX_UP_WINDOW, Integer.parseInt(header.trim())));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    private static Backoff retryBackoff() {
        return new Backoff(
                RETRY_MIN, RETRY_MAX, () -> ThreadLocalRandom.current().nextDouble());
    }

    private RequestOptions request(HttpMethod method, String tail, String sessionIdHex, String leg) {
        RequestOptions o = new RequestOptions()
                .setMethod(method)
                .setHost(server.host())
                .setPort(server.port())
                .setSsl(server.tls())
                .setURI(server.httpPath(tail))
                .setIdleTimeout(-1);
        if (authorization != null) {
            o.putHeader("Authorization", authorization);
        }
        if (sessionIdHex != null) {
            o.putHeader(SESSION_HEADER, sessionIdHex);
        }
        if (leg != null) {
            o.putHeader(LEG_HEADER, leg);
        }
        return o;
    }

    /**
     * One leg: handshake requests until the WELCOME names the leg, then upstream batches and/or the downstream
     * request loop.
     */
    private final class HttpConnection implements Connection {
        private final Direction direction;
        private final Handler handler;
        private final String sessionIdHex;
        private String handshakeId;
        private String leg;
        private boolean closed;
        /** Set by {@link #closeAfterSending}: completed when the queue and the POSTs in flight are done. */
        private Promise<Void> finishing;

        private boolean poll = startInPoll;
        private boolean bufferingLogged;

        // Upstream: frames waiting for the next POST; bounded by the session's unacknowledged-bytes limit.
        private final Deque<ByteBuffer> queue = new ArrayDeque<>();
        private long queuedBytes;
        /** Upstream POSTs in flight, at most {@link #upWindow}. */
        private int inFlight;
        /** After a failed POST: sending waits until the exit said what arrived. */
        private boolean recovering;
        /** Bumped by every failure: answers to POSTs of an older generation are ignored. */
        private int generation;
        /** POSTs allowed in flight: what the exit announced, 1 (and no numbers) if it announced nothing. */
        private int upWindow = 1;
        /** Number of the next upstream batch (numbered only when upWindow > 1). */
        private long nextBatch = 1;

        // Downstream.
        private HttpClientRequest down;
        private int downFailures;
        private final Backoff downBackoff = retryBackoff();
        private final Backoff upBackoff = retryBackoff();
        private long firstBytesTimer = -1;
        private Buffer partial = Buffer.buffer();

        HttpConnection(String sessionIdHex, Direction direction, Handler handler) {
            this.sessionIdHex = sessionIdHex;
            this.direction = direction;
            this.handler = handler;
        }

        @Override
        public String name() {
            return poll ? "http-poll" : "http-stream";
        }

        private String session() {
            return sessionIdHex != null ? sessionIdHex : handler.sessionIdHex();
        }

        @Override
        public void send(ByteBuffer frame) {
            if (closed) {
                return;
            }
            if (leg == null) {
                handshake(frame);
                return;
            }
            queue.add(frame);
            queuedBytes += frame.remaining();
            flush();
        }

        @Override
        public boolean writeQueueFull() {
            return queuedBytes > 4L * maxBatch;
        }

        @Override
        public Future<Void> closeAfterSending(String reason, long maxMillis) {
            if (closed || finishing != null) {
                return finishing != null ? finishing.future() : Future.succeededFuture();
            }
            finishing = Promise.promise();
            // Nothing more comes down: only what is queued or in flight upstream still has to leave.
            cancelFirstBytesTimer();
            if (down != null) {
                down.reset();
                down = null;
            }
            long timer = vertx.setTimer(maxMillis, id -> {
                if (!closed) {
                    LOG.debugf(
                            "closing the HTTP leg with %d bytes queued and %d POSTs in flight after %d ms",
                            queuedBytes, inFlight, maxMillis);
                    close(reason);
                }
            });
            finishing.future().onComplete(ar -> vertx.cancelTimer(timer));
            finishIfSent(reason);
            return finishing.future();
        }

        /** While finishing: closes once nothing is queued or in flight (or the leg cannot send any more). */
        private void finishIfSent(String reason) {
            if (finishing != null && !closed && (leg == null || recovering || queue.isEmpty() && inFlight == 0)) {
                close(reason);
            }
        }

        @Override
        public Future<Void> close(String reason) {
            if (!closed) {
                closed = true;
                if (finishing != null) {
                    finishing.tryComplete();
                }
                cancelFirstBytesTimer();
                if (down != null) {
                    down.reset();
                    down = null;
                }
                queue.clear();
                queuedBytes = 0;
            }
            return Future.succeededFuture();
        }

        private void fail(String reason) {
            if (!closed) {
                boolean told = finishing == null;
                close(reason);
                if (told) {
                    handler.onFailed(reason);
                }
            }
        }

        // ---- handshake

        private void handshake(ByteBuffer frame) {
            RequestOptions o = request(HttpMethod.POST, "handshake", session(), null)
                    .setTimeout(REQUEST_TIMEOUT_MILLIS)
                    .putHeader("Content-Type", CONTENT_TYPE);
            if (handshakeId != null) {
                o.putHeader(HANDSHAKE_HEADER, handshakeId);
            }
            client.request(o)
                    .compose(req -> req.send(Buffer.buffer(Unpooled.wrappedBuffer(frame))))
                    .compose(resp -> resp.body().map(body -> {
                        onHandshakeResponse(resp, body);
                        return null;
                    }))
                    .onFailure(t -> fail("HTTP handshake failed: " + WebSocketTransport.describe(t)));
        }

        private void onHandshakeResponse(HttpClientResponse resp, Buffer body) {
            if (closed) {
                return;
            }
            String ct = resp.getHeader("Content-Type");
            if (ct == null || !ct.startsWith(CONTENT_TYPE) || body.length() < FrameCodec.HEADER_LENGTH) {
                fail("HTTP handshake answered " + resp.statusCode() + " " + resp.statusMessage());
                return;
            }
            String id = resp.getHeader(HANDSHAKE_HEADER);
            if (id != null) {
                handshakeId = id;
            }
            String legId = resp.getHeader(LEG_HEADER);
            if (resp.statusCode() == 200 && legId != null) {
                leg = legId;
                upWindow = upWindow(resp.getHeader(UP_WINDOW_HEADER));
            }
            deliver(body);
            if (leg != null && !closed && direction != Direction.UP) {
                openDown();
            }
            flush();
        }

        // ---- upstream

        private void flush() {
            boolean wasFull = writeQueueFull();
            sendBatches();
            if (wasFull && !closed && !writeQueueFull()) {
                handler.onDrained();
            }
        }

        private void sendBatches() {
            while (!closed && !recovering && leg != null && !queue.isEmpty() && inFlight < upWindow) {
                // The encoded frames are wrapped as one composite body, not copied into a new buffer.
                List<ByteBuffer> frames = new ArrayList<>();
                long bytes = 0;
                while (!queue.isEmpty() && (bytes == 0 || bytes + queue.peek().remaining() <= maxBatch)) {
                    ByteBuffer f = queue.poll();
                    queuedBytes -= f.remaining();
                    bytes += f.remaining();
                    frames.add(f);
                }
                post(Buffer.buffer(Unpooled.wrappedBuffer(frames.size(), frames.toArray(new ByteBuffer[0]))));
            }
        }

        private void post(Buffer batch) {
            inFlight++;
            int gen = generation;
            RequestOptions o = request(HttpMethod.POST, "up", session(), leg)
                    .setTimeout(REQUEST_TIMEOUT_MILLIS)
                    .putHeader("Content-Type", CONTENT_TYPE);
            if (upWindow > 1) {
                o.putHeader(BATCH_HEADER, Long.toString(nextBatch++));
            }
            client.request(o)
                    .compose(req -> req.send(batch))
                    .compose(resp -> resp.body().map(b -> resp))
                    .onComplete(ar -> {
                        if (closed || gen != generation) {
                            return;
                        }
                        inFlight--;
                        if (ar.succeeded() && ar.result().statusCode() == 200) {
                            upBackoff.reset();
                            flush();
                            finishIfSent("shutdown");
                        } else if (ar.succeeded() && ar.result().statusCode() == 404) {
                            fail("HTTP leg unknown or expired on the exit node");
                        } else {
                            String why = ar.succeeded()
                                    ? "HTTP " + ar.result().statusCode()
                                    : WebSocketTransport.describe(ar.cause());
                            if (finishing != null) {
                                close("shutdown"); // the session is over: nothing to resend
                                return;
                            }
                            LOG.debugf(
                                    "upstream batch of %d bytes failed (%s); asking what arrived", batch.length(), why);
                            retryUpstream(why, 0);
                        }
                    });
        }

        /**
         * Asks again what arrived after a backoff delay; upstream sending waits meanwhile, and answers to the POSTs
         * still in flight are ignored (the session resends whatever the exit did not take).
         */
        private void retryUpstream(String why, int attempt) {
            recovering = true;
            generation++;
            inFlight = 0;
            queue.clear();
            queuedBytes = 0;
            vertx.setTimer(upBackoff.nextDelayMillis(), id -> {
                if (!closed) {
                    recoverUpstream(why, attempt);
                }
            });
        }

        /**
         * After a failed POST: an empty POST tells what the exit received (numbered legs restart their numbering with
         * it, so a late batch from before is never opened); the session resends the rest.
         */
        private void recoverUpstream(String why, int attempt) {
            queue.clear();
            queuedBytes = 0;
            int gen = generation;
            RequestOptions o = request(HttpMethod.POST, "up", session(), leg).setTimeout(REQUEST_TIMEOUT_MILLIS);
            if (upWindow > 1) {
                o.putHeader(BATCH_RESET_HEADER, Long.toString(nextBatch));
            }
            client.request(o)
                    .compose(req -> req.send(Buffer.buffer()))
                    .compose(resp -> resp.body().map(b -> resp))
                    .onComplete(ar -> {
                        if (closed || gen != generation) {
                            return;
                        }
                        String last = ar.succeeded() ? ar.result().getHeader(LAST_RECEIVED_HEADER) : null;
                        if (ar.succeeded() && ar.result().statusCode() == 200 && last != null) {
                            recovering = false;
                            queue.clear();
                            queuedBytes = 0;
                            handler.onUpstreamLost(Long.parseLong(last.trim()));
                            flush();
                        } else if (ar.succeeded() && ar.result().statusCode() == 404) {
                            fail("HTTP leg unknown or expired on the exit node");
                        } else if (attempt + 1 < MAX_UP_RETRIES) {
                            retryUpstream(why, attempt + 1);
                        } else {
                            fail("upstream POST failed " + MAX_UP_RETRIES + " times: " + why);
                        }
                    });
        }

        // ---- downstream

        private void openDown() {
            if (closed || finishing != null) {
                return;
            }
            boolean pollNow = poll;
            // The leg id is a bearer credential: a header, never the query string that proxies write to their logs.
            String uri = "down?last=" + handler.lastReceivedSeq() + "&mode=" + (pollNow ? "poll" : "stream");
            RequestOptions o = request(HttpMethod.GET, uri, session(), leg)
                    .setTimeout(pollNow ? POLL_TIMEOUT_MILLIS : -1)
                    .setConnectTimeout(REQUEST_TIMEOUT_MILLIS);
            long[] sent = {System.nanoTime()};
            boolean[] gotBytes = {false};
            partial = Buffer.buffer();
            client.request(o).onComplete(ar -> {
                if (closed) {
                    if (ar.succeeded()) {
                        ar.result().reset();
                    }
                    return;
                }
                if (ar.failed()) {
                    downFailed(WebSocketTransport.describe(ar.cause()));
                    return;
                }
                HttpClientRequest req = ar.result();
                down = req;
                if (!pollNow) {
                    startFirstBytesTimer(req, gotBytes);
                }
                req.send().onComplete(rar -> {
                    if (closed || down != req) {
                        return;
                    }
                    if (rar.failed()) {
                        downFailed(WebSocketTransport.describe(rar.cause()));
                        return;
                    }
                    HttpClientResponse resp = rar.result();
                    if (resp.statusCode() != 200) {
                        resp.body();
                        cancelFirstBytesTimer();
                        if (resp.statusCode() == 404) {
                            fail("HTTP leg unknown or expired on the exit node");
                        } else {
                            downFailed("HTTP " + resp.statusCode());
                        }
                        return;
                    }
                    if (!pollNow && !gotBytes[0]) {
                        startFirstBytesTimer(req, gotBytes); // restart: 3 s from the response headers
                    }
                    resp.handler(chunk -> {
                        if (closed || down != req) {
                            return;
                        }
                        if (!gotBytes[0]) {
                            gotBytes[0] = true;
                            cancelFirstBytesTimer();
                        }
                        downFailures = 0;
                        downBackoff.reset();
                        partial.appendBuffer(chunk);
                        Buffer rest = deliver(partial);
                        partial = rest;
                    });
                    resp.exceptionHandler(t -> {
                        if (!closed && down == req) {
                            downFailed(WebSocketTransport.describe(t));
                        }
                    });
                    resp.endHandler(v -> {
                        if (closed || down != req) {
                            return;
                        }
                        down = null;
                        cancelFirstBytesTimer();
                        long millis = (System.nanoTime() - sent[0]) / 1_000_000;
                        if (!gotBytes[0] && millis < EMPTY_RESPONSE_MILLIS) {
                            // An exit holds a poll until it has frames or its poll-wait passed; something on the
                            // path answers at once instead: do not hammer it.
                            long delay = downBackoff.nextDelayMillis();
                            LOG.debugf("downstream response ended empty after %d ms; next GET in %d ms", millis, delay);
                            vertx.setTimer(delay, id -> openDown());
                        } else {
                            downBackoff.reset();
                            openDown();
                        }
                    });
                });
            });
        }

        private void startFirstBytesTimer(HttpClientRequest req, boolean[] gotBytes) {
            cancelFirstBytesTimer();
            firstBytesTimer = vertx.setTimer(FIRST_BYTES_MILLIS, id -> {
                firstBytesTimer = -1;
                if (closed || down != req || gotBytes[0]) {
                    return;
                }
                switchToPoll("no frame within " + FIRST_BYTES_MILLIS + " ms of a streamed response");
                down = null;
                req.reset();
                openDown();
            });
        }

        private void cancelFirstBytesTimer() {
            if (firstBytesTimer >= 0) {
                vertx.cancelTimer(firstBytesTimer);
                firstBytesTimer = -1;
            }
        }

        private void switchToPoll(String why) {
            poll = true;
            if (!bufferingLogged) {
                bufferingLogged = true;
                LOG.warnf(
                        "the HTTP path to %s buffers responses (%s); downstream switches to mode=poll", display(), why);
            }
            handler.onModeChanged(name(), "buffering detected: " + why);
        }

        private void downFailed(String why) {
            down = null;
            cancelFirstBytesTimer();
            if (++downFailures >= MAX_DOWN_FAILURES) {
                fail("downstream GET failed " + downFailures + " times: " + why);
                return;
            }
            long delay = downBackoff.nextDelayMillis();
            LOG.debugf("downstream GET failed (%s); again in %d ms", why, delay);
            vertx.setTimer(delay, id -> openDown());
        }

        /** Hands every whole frame of {@code bytes} to the handler; returns the incomplete rest. */
        private Buffer deliver(Buffer bytes) {
            int pos = 0;
            while (!closed && bytes.length() - pos >= FrameCodec.HEADER_LENGTH) {
                int body = bytes.getInt(pos + 16);
                if (body < 0 || body > MAX_FRAME - FrameCodec.HEADER_LENGTH) {
                    fail("frame of " + body + " bytes from the exit node");
                    return Buffer.buffer();
                }
                int end = pos + FrameCodec.HEADER_LENGTH + body;
                if (end > bytes.length()) {
                    break;
                }
                handler.onFrame(bytes.getByteBuf().nioBuffer(pos, end - pos));
                pos = end;
            }
            return pos == bytes.length() ? Buffer.buffer() : bytes.getBuffer(pos, bytes.length());
        }
    }
}
