package dev.splitstream.exit.route;

import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.protocol.ResetCode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.impl.ContextInternal;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.NetSocketInternal;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * One HTTP request through a route: the client's request is written onto a stream to the agent's HTTP service as
 * HTTP/1.1 ({@link RequestBytes}), the service's answer is parsed back ({@link HttpResponseDecoder}) and
 * streamed to the client. The stream is a {@link ServiceConnection}: a persistent HTTP/1.1 connection to the service,
 * taken from the {@link RoutePool} or opened for this request, and given back when the response ended cleanly and both
 * sides allow keep-alive. It serves this request alone while it runs (no pipelining).
 *
 * <p>When a reused connection turns out dead before the service sent a single byte of an answer (it closed the idle
 * connection as the request went out), an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) whose body
 * had not started is sent once more on a new stream; any other request gets a 502 (RFC 9110 9.2.2: only idempotent
 * requests may be retried automatically).
 *
 * <p>Two threads meet here, as in the bridge: the client's HTTP connection (its event loop) and the agent's session.
 * The connection calls in on the session's thread and every such call hops to the client's thread, where it is dropped
 * unless it comes from the connection serving this request now; this side's operations on the stream go through the
 * connection, which drops them once it serves another request. Backpressure: the request body pauses while the
 * stream is full and resumes when it is writable; the response's receive credit is returned while the client's write
 * queue has room, else when it drains. Nothing is buffered beyond one stream window either way.
 *
 * <p>After a {@code 101 Switching Protocols} (WebSocket and other upgrades) both sides relay raw bytes; an upgrade
 * always gets a new stream, which never goes back to the pool. Half-close works as nginx does it for an upgraded
 * connection: the client's FIN becomes the stream's FIN (the service sees the end of its input) and the service's
 * answer keeps flowing; the service's FIN becomes the client connection's FIN once every byte before it was written.
 * Once one direction has ended, the other must end within {@code upgrade-half-close-timeout}, else the connection is
 * closed and the stream reset.
 */
final class RouteExchange {
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
     * {@code Authorization} is not among them: it is the service's business, unless it carried the route's own Basic
     * password ({@link #withoutAuthorization}).
     */
    private static final Set<String> PRIVATE = Set.of("x-token", "x-host", "expect");

    /**
     * {@link #HOP_BY_HOP} and {@link #PRIVATE} by length, compared ignoring case: the header loops run for every routed
     * request and response, and lower-casing each name there made a string per header; comparing each name with all
     * twelve cost 2-3% of the exit's event-loop samples in {@code bench/routes.sh}. A name of another length is none of
     * them after one array read.
     */
    private static final String[][] HOP_BY_HOP_BY_LENGTH = byLength(HOP_BY_HOP);

    private static final String[][] PRIVATE_BY_LENGTH = byLength(PRIVATE);

    /** Methods that may be sent again when a reused connection died unanswered (RFC 9110 9.2.2). */
    private static final Set<String> IDEMPOTENT = Set.of("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE");

    /**
     * Most request bytes on their way from the client's thread to the session's (read, not yet written to the stream).
     * The stream's own window bounds what it buffers; this bounds what waits for a busy session thread.
     */
    private static final long MAX_UNWRITTEN = 256 * 1024;

    /** Longest response head the decoder accepts from a service. */
    private static final int MAX_RESPONSE_HEAD = 64 * 1024;

    interface Done {
        void done(String method, int status, long nanos, long bytesIn, long bytesOut);
    }

    /**
     * A response decoder that can say whether bytes are left over after a response ended. One per
     * {@link ServiceConnection}: it starts afresh after each complete response.
     */
    static final class ResponseDecoder extends HttpResponseDecoder {
        /** The request being answered is a HEAD; set by the exchange before its request goes out. */
        private boolean head;

        ResponseDecoder() {
            super(4096, MAX_RESPONSE_HEAD, 8192);
        }

        void answering(boolean headRequest) {
            this.head = headRequest;
        }

        @Override
        protected boolean isContentAlwaysEmpty(io.netty.handler.codec.http.HttpMessage msg) {
            // A response to HEAD announces a length but carries no body (RFC 9110 9.3.2).
            return head || super.isContentAlwaysEmpty(msg);
        }

        int leftover() {
            return actualReadableBytes();
        }
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
    private final RoutePool pool;
    private final String agent;
    private final String service;
    private boolean dropAuthorization;
    /** Where a request that waited for its agent goes when the agent came back on another replica (null: nowhere). */
    private java.util.function.Consumer<String> follower;

    // Owned by the HTTP thread. The codec is the serving connection's (useConnection).
    private RequestBytes head;
    /** The request's body goes to the service chunked (its client sent it so). */
    private boolean chunkedBody;

    private ResponseDecoder decoderHandler;
    private EmbeddedChannel decoder;
    /** The head went out with the pooled connection's bind: the accepted connection only starts the body. */
    private boolean headSent;
    /** The request's end went out with its head (a request without a body): the encoder is ready for the next one. */
    private boolean lastEncoded;
    /** Set on the HTTP thread before the pooled connection's bind is queued; read by that bind. */
    private volatile boolean startedWithHead;

    private boolean requestEnded;
    private boolean requestHandlers;
    private boolean continueSent;
    private boolean responseStarted;
    /**
     * The response's head waits to go out with its first body bytes, or its end, in one write: Vert.x flushes every
     * write made outside the client connection's own read, so head, body and end written apart cost a flush (a write
     * system call) and a pipeline pass each. Written at the end of the decoder's drain at the latest, so a
     * server-sent event stream or a long poll still gets its head at once.
     */
    private boolean headPending;

    private boolean finished;
    private boolean upgraded;
    private boolean skippingInterim;
    private boolean retried;
    /** The connection now serving this request came from the pool. */
    private boolean attemptReused;
    /** Bytes of the answer received on the connection now serving this request. */
    private long attemptBytes;
    /** The service allows keep-alive (its response head said so). */
    private boolean serviceKeepAlive;
    /** The service ended its side or the response could not be parsed cleanly: the connection is not reused. */
    private boolean unclean;
    /** The response ended while the decoder was being drained: the connection is ended or released after it. */
    private boolean endAfterDrain;

    private NetSocket tunnel;
    /** The client half-closed the upgraded connection (its FIN went on to the service). */
    private boolean clientFin;
    /** The service ended its side of the upgraded connection (the client gets a FIN once its bytes are written). */
    private boolean serviceFin;

    private boolean tunnelClosed;
    private long halfClosedTimer = -1;
    /**
     * The response timer: from the request's end until the response's head ({@code route-response-timeout}), then
     * between reads of its body ({@code route-read-timeout}); null when none runs. HTTP thread.
     */
    private io.netty.util.concurrent.ScheduledFuture<?> responseTimer;

    /** Which response timer is current: one that fires after it was replaced or cancelled does nothing. */
    private long responseTimerSeq;
    /**
     * Runs while the stream to the service is full, that is while the service leaves the request body unread
     * ({@code route-send-timeout}); null when none runs. HTTP thread.
     */
    private io.netty.util.concurrent.ScheduledFuture<?> sendTimer;

    private long sendTimerSeq;
    /** The error answer closes the client's connection once written (its request body was not all read). */
    private boolean closeAfterAnswer;
    /** The response's head came: the timer measures silence between body reads, not the wait for the head. */
    private boolean readTimerPhase;
    /** When the service's last bytes of this response arrived (System.nanoTime), for the read timer. */
    private long lastReadNanos;
    /** Bytes the service sent right after its 101, before the client's socket is ready (at most one DATA payload). */
    private final List<ByteBuf> early = new ArrayList<>();

    private long pendingCredit;
    private int status;
    private long bytesIn;
    private long bytesOut;

    /** Request bytes handed to the connection and not yet written to (or dropped by) its stream. */
    private final java.util.concurrent.atomic.AtomicLong unwritten = new java.util.concurrent.atomic.AtomicLong();
    /** Reading the client paused: the stream is full (until it is writable) or too much is on its way (HTTP thread). */
    private boolean streamFull;

    private volatile boolean queueFull;

    /** The connection serving this request now; set on the HTTP thread, read by the connection's callbacks. */
    private volatile ServiceConnection conn;

    private volatile boolean clientGone;

    RouteExchange(
            HttpServerRequest request,
            String uri,
            String serviceHost,
            boolean hub,
            RoutePool pool,
            String agent,
            String service,
            Done done) {
        this.hub = hub;
        this.request = request;
        this.response = request.response();
        this.httpContext = (ContextInternal) Vertx.currentContext();
        this.uri = uri;
        this.serviceHost = serviceHost;
        this.done = done;
        this.pool = pool;
        this.agent = agent;
        this.service = service;
        this.upgrade = isUpgrade(request);
        request.pause();
        response.closeHandler(v -> clientClosed());
        response.exceptionHandler(t -> clientClosed());
    }

    /** Sends the request: on a pooled connection when there is one, else on a new stream. */
    void start() {
        pool.open(agent, service, this);
    }

    private static boolean isUpgrade(HttpServerRequest request) {
        String connection = request.getHeader("Connection");
        return request.getHeader("Upgrade") != null
                && connection != null
                && connection.toLowerCase(Locale.ROOT).contains("upgrade");
    }

    /** The client's {@code Authorization} was the route's own password: it does not go on to the service. */
    void withoutAuthorization() {
        this.dropAuthorization = true;
    }

    boolean isUpgrade() {
        return upgrade;
    }

    /**
     * With replicas: {@code follower} takes this request over (relays it to the replica named) if its agent comes back
     * on another replica while the request waits for it.
     */
    void onFollow(java.util.function.Consumer<String> follower) {
        this.follower = follower;
    }

    /**
     * The stream {@code c} waited for the agent, which is back on replica {@code owner}: nothing of the request went to
     * the agent (its body is unread, or it had none and was read to its end; a head sent on a reused connection that
     * died was never answered), so the whole request is handed to the follower, which relays it there. This exchange is over without an answer of its own.
     * Always hops to the HTTP thread, never runs in the caller (which may hold the expose service's lock).
     */
    void follow(ServiceConnection c, String owner) {
        httpContext.runOnContext(v -> guarded(() -> {
            if (c != conn || finished || clientGone) {
                return;
            }
            if (follower == null || bytesIn > 0 || responseStarted || continueSent || upgraded) {
                fail(hub ? 503 : 504, "the agent came back on another replica after this request had started here");
                return;
            }
            finished = true;
            completed = true;
            cancelResponseTimer();
            conn = null;
            c.releaseCodec();
            follower.accept(owner);
        }));
    }

    /** The pool hands this request {@code c} (HTTP thread). */
    void useConnection(ServiceConnection c, boolean reused) {
        this.conn = c;
        this.attemptReused = reused;
        this.attemptBytes = 0;
        this.headSent = false;
        this.lastEncoded = false;
        this.streamFull = false;
        cancelSendTimer();
        this.queueFull = false;
        this.unwritten.set(0);
        this.head = c.head;
        this.decoder = c.decoder;
        this.decoderHandler = c.decoderHandler;
        decoderHandler.answering(request.method() == io.vertx.core.http.HttpMethod.HEAD);
    }

    /**
     * The request head for a connection taken from the pool, which {@link ServiceConnection#bind} writes on the
     * session's thread before anything else; null when the request is over already. The body waits for
     * {@link #streamAccepted}, so a connection found dead then has carried nothing of this request.
     */
    ByteBuffer headForReuse() {
        if (clientGone || finished) {
            return null;
        }
        headSent = true;
        ByteBuffer head = encodeHead();
        if (lastEncoded && request.getHeader("Expect") == null) {
            // Whole with its head: there is no body to hold back until the connection proves alive, so reading the
            // client starts now (for its end) and bind need not hop back here once it wrote the head.
            startedWithHead = true;
            startBody();
        }
        return head;
    }

    /** The request was whole with its head and already started ({@link #headForReuse}): no acceptance needed. */
    boolean startedWithHead() {
        return startedWithHead;
    }

    boolean isAbandoned() {
        return clientGone;
    }

    // ------------------------------------------------------------------ from the connection (session thread)

    void streamOpened(ServiceConnection c) {
        if (clientGone) {
            c.reset(this, ResetCode.CANCELLED, "the HTTP client went away");
        }
    }

    void streamAccepted(ServiceConnection c) {
        onHttp(() -> {
            if (c == conn) {
                if (headSent) {
                    startBody();
                } else {
                    sendHead();
                }
            }
        });
    }

    /** {@code c} came from the pool but was dead by the time it was taken: nothing was sent, so any request moves on. */
    void staleConnection(ServiceConnection c) {
        onHttp(() -> {
            if (c == conn) {
                c.releaseCodec();
                if (!finished && !clientGone) {
                    pool.openNew(agent, service, this);
                }
            }
        });
    }

    void openFailed(ServiceConnection c, ResetCode code, String message) {
        onHttp(() -> {
            if (c != conn) {
                return;
            }
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

    void fromStream(ServiceConnection c, ByteBuffer data) {
        int n = data.remaining();
        ByteBuf buf = Unpooled.wrappedBuffer(data);
        onHttp(() -> {
            if (c == conn) {
                fromService(buf, n);
            }
        });
    }

    void streamFinished(ServiceConnection c) {
        onHttp(() -> {
            if (c == conn) {
                serviceFinished();
            }
        });
    }

    void streamReset(ServiceConnection c, ResetCode code, String message) {
        onHttp(() -> {
            if (c != conn) {
                return;
            }
            unclean = true;
            if (!responseStarted && diedUnanswered()) {
                retryOrFail("the service's connection was reset: " + message);
            } else if (!responseStarted && code == ResetCode.NOT_ALLOWED) {
                fail(403, "refused by the agent: " + message);
            } else if (!responseStarted && code == ResetCode.TIMEOUT) {
                // the agent could not connect to its service within its service-connect-timeout (nginx: 504 when
                // proxy_connect_timeout passes); the Hub too: its agent is online, the service is not
                fail(504, "the agent's service did not answer: " + message);
            } else if (!responseStarted) {
                fail(502, "the agent's service did not answer: " + message);
            } else if (!finished) {
                LOG.debugf("route stream reset mid-response: %s %s", code, message);
                abortClient();
            }
        });
    }

    void streamWritable(ServiceConnection c) {
        onHttp(() -> {
            if (c != conn) {
                return;
            }
            streamFull = false;
            cancelSendTimer();
            updateReading();
        });
    }

    /** Pauses or resumes reading from the client: paused while the stream is full or too much is on its way. */
    private void updateReading() {
        boolean pause = streamFull || queueFull;
        if (upgraded && tunnel != null) {
            // AUTO_READ, not pause(): a FIN never overtakes bytes waiting in a paused socket's queue
            SocketBridge.reading(tunnel, !pause);
        } else if (!finished && requestHandlers) {
            if (pause) {
                request.pause();
            } else {
                request.resume();
            }
        }
    }

    // ------------------------------------------------------------------ to the connection

    private void write(ByteBuffer data) {
        ServiceConnection c = conn;
        if (c == null) {
            return;
        }
        int n = data.remaining();
        unwritten.addAndGet(n);
        c.write(
                this,
                data,
                () -> onHttp(() -> {
                    if (c != conn) {
                        return;
                    }
                    streamFull = true;
                    startSendTimer();
                    updateReading();
                }),
                () -> {
                    if (unwritten.addAndGet(-n) <= MAX_UNWRITTEN / 2 && queueFull) {
                        onHttp(() -> {
                            if (c == conn && queueFull && unwritten.get() <= MAX_UNWRITTEN / 2) {
                                queueFull = false;
                                updateReading();
                            }
                        });
                    }
                });
        if (!queueFull && unwritten.get() > MAX_UNWRITTEN) {
            queueFull = true;
            updateReading();
        }
    }

    /**
     * The response is complete: the connection goes back to the pool when it is clean and both sides allow
     * keep-alive, else it is half-closed; a request whose body is not all sent resets it.
     */
    private void endStream(boolean clean) {
        ServiceConnection c = conn;
        if (c == null) {
            return;
        }
        if (!requestEnded) {
            c.releaseCodec();
            c.reset(this, ResetCode.CANCELLED, "the response ended before the request body");
            return;
        }
        if (clean) {
            // the credit of the answer's last bytes goes with the release: one task on the session's thread, not two
            long credit = pendingCredit;
            pendingCredit = 0;
            c.release(this, attemptBytes, credit);
        } else {
            c.releaseCodec();
            c.finish(this);
        }
    }

    private void resetStream(ResetCode code, String message) {
        ServiceConnection c = conn;
        if (c != null) {
            c.reset(this, code, message);
        }
    }

    private void flushCredit() {
        long n = pendingCredit;
        pendingCredit = 0;
        ServiceConnection c = conn;
        if (c != null && n > 0) {
            c.consumed(this, n);
        }
    }

    /** A reused connection ended or was reset before a single byte of an answer came back on it. */
    private boolean diedUnanswered() {
        return attemptReused && attemptBytes == 0 && !finished && !clientGone;
    }

    private void retryOrFail(String why) {
        String method = request.method().name();
        if (retried || !IDEMPOTENT.contains(method) || bytesIn > 0) {
            String reason = retried
                    ? "it was sent twice"
                    : !IDEMPOTENT.contains(method) ? method + " is not idempotent" : "its body was already under way";
            fail(
                    502,
                    "the connection to the agent's service closed before it answered (" + why + "); not retried: "
                            + reason);
            return;
        }
        retried = true;
        pool.retried();
        LOG.debugf("route %s/%s: %s on a reused connection died unanswered; sending it again", agent, service, method);
        resetStream(ResetCode.CANCELLED, "sent again on another stream");
        conn.releaseCodec();
        // nothing of a body went out (bytesIn is 0): whatever comes now waits for the new stream's acceptance
        request.pause();
        skippingInterim = false;
        serviceKeepAlive = false;
        unclean = false;
        pendingCredit = 0;
        pool.openNew(agent, service, this);
    }

    // ------------------------------------------------------------------ HTTP side (client's thread)

    private void sendHead() {
        if (clientGone || finished) {
            return;
        }
        boolean endedBefore = requestEnded;
        ByteBuffer head = encodeHead();
        if (head.hasRemaining()) {
            write(head);
        }
        if (endedBefore && !lastEncoded) {
            // sent again after its reused connection died: its end came already
            writeBytes(RequestBytes.end(chunkedBody));
            startHeadTimer();
        }
        startBody();
    }

    /** The head as the service sees it, rewritten as a reverse proxy must. */
    private ByteBuffer encodeHead() {
        // Names are not validated again: they are the client's, which Vert.x's decoder accepted, and our own.
        String te = request.getHeader("Transfer-Encoding");
        boolean chunked = te != null && te.toLowerCase(Locale.ROOT).contains("chunked");
        chunkedBody = chunked;
        RequestBytes h = head.start(request.method().name(), requestTarget(uri));
        List<String> listed = connectionListed(request.headers().getAll("Connection"));
        for (Map.Entry<String, String> e : request.headers()) {
            String name = e.getKey();
            if (isHopByHop(name) || isListed(name, listed) || isPrivate(name)) {
                continue;
            }
            if (name.regionMatches(true, 0, "x-forwarded-", 0, 12) || name.equalsIgnoreCase("host")) {
                continue;
            }
            if (dropAuthorization && name.equalsIgnoreCase("authorization")) {
                continue;
            }
            if (chunked && name.equalsIgnoreCase("content-length")) {
                continue;
            }
            h.header(name, e.getValue());
        }
        if (chunked) {
            h.header("transfer-encoding", "chunked");
        }
        h.header("host", serviceHost);
        String forwardedFor = request.getHeader("X-Forwarded-For");
        String client = request.remoteAddress() == null
                ? "unknown"
                : request.remoteAddress().hostAddress();
        h.header("X-Forwarded-For", forwardedFor == null ? client : forwardedFor + ", " + client);
        h.header("X-Forwarded-Proto", request.isSSL() ? "https" : "http");
        if (request.authority() != null) {
            h.header("X-Forwarded-Host", request.authority().toString());
        }
        if (upgrade) {
            h.header("connection", "upgrade");
            h.header("upgrade", request.getHeader("Upgrade"));
        } else if (!pool.enabled()) {
            h.header("connection", "close");
        } // else HTTP/1.1's default: the connection stays open for the next request
        ByteBuffer bytes = h.end();
        String length = request.getHeader("Content-Length");
        if (!upgrade && !chunked && (length == null || length.trim().equals("0"))) {
            // No body (RFC 9112 6.3): the request is whole with its head. Ending it here, not when Vert.x delivers the
            // paused request's end, lets an answer that comes back first release the connection to the pool.
            lastEncoded = true;
            requestEnded = true;
            startHeadTimer();
        }
        return bytes;
    }

    /** The service's connection is ready for the request's body (the head went out already). */
    private void startBody() {
        if (clientGone || finished) {
            return;
        }
        String expect = request.getHeader("Expect");
        if (!continueSent && expect != null && expect.equalsIgnoreCase("100-continue")) {
            continueSent = true;
            response.writeContinue();
        }
        if (!requestHandlers) {
            request.handler(chunk -> {
                bytesIn += chunk.length();
                writeBytes(RequestBytes.body(chunk, chunkedBody));
            });
            request.endHandler(v -> {
                if (!upgraded && !finished && !lastEncoded) {
                    writeBytes(RequestBytes.end(chunkedBody));
                }
                requestEnded = true;
                startHeadTimer();
            });
            requestHandlers = true;
        }
        updateReading();
    }

    /** The header names a {@code Connection} header lists (hop-by-hop too, RFC 9110 7.6.1), as sent. */
    private static List<String> connectionListed(List<String> values) {
        if (values.isEmpty()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (String v : values) {
            for (String token : v.split(",")) {
                out.add(token.trim());
            }
        }
        return out;
    }

    private static boolean isListed(CharSequence name, List<String> listed) {
        for (int i = 0; i < listed.size(); i++) {
            if (AsciiString.contentEqualsIgnoreCase(name, listed.get(i))) {
                return true;
            }
        }
        return false;
    }

    /** {@code names} grouped by their length: element {@code n} holds the names of {@code n} characters. */
    private static String[][] byLength(Set<String> names) {
        int longest = names.stream().mapToInt(String::length).max().orElse(0);
        String[][] out = new String[longest + 1][];
        for (int n = 0; n <= longest; n++) {
            int length = n;
            out[n] = names.stream().filter(name -> name.length() == length).toArray(String[]::new);
        }
        return out;
    }

    /** Whether {@code name} is one of the names {@link #byLength} grouped, ignoring case. */
    static boolean isOneOf(CharSequence name, String[][] namesByLength) {
        int n = name.length();
        if (n >= namesByLength.length) {
            return false;
        }
        for (String candidate : namesByLength[n]) {
            if (AsciiString.contentEqualsIgnoreCase(name, candidate)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code name} is a hop-by-hop header ({@link #HOP_BY_HOP}), in any case. */
    static boolean isHopByHop(CharSequence name) {
        return isOneOf(name, HOP_BY_HOP_BY_LENGTH);
    }

    /** Whether {@code name} never goes on to the service ({@link #PRIVATE}), in any case. */
    static boolean isPrivate(String name) {
        return isOneOf(name, PRIVATE_BY_LENGTH);
    }

    private void writeBytes(ByteBuffer bytes) {
        if (bytes.hasRemaining()) {
            write(bytes);
        }
    }

    /**
     * The request target as Netty's encoder wrote it: {@code /} for an empty one, and an absolute form without a path
     * ({@code http://host?q}) gets its {@code /}.
     */
    static String requestTarget(String uri) {
        if (uri.isEmpty()) {
            return "/";
        }
        int scheme = uri.indexOf("://");
        if (scheme < 0 || uri.charAt(0) == '/') {
            return uri;
        }
        int host = scheme + 3;
        int query = uri.indexOf('?', host);
        int pathEnd = query < 0 ? uri.length() : query;
        return uri.lastIndexOf('/', pathEnd - 1) < host
                ? uri.substring(0, pathEnd) + "/" + uri.substring(pathEnd)
                : uri;
    }

    private void fromService(ByteBuf data, int n) {
        attemptBytes += n;
        pendingCredit += n;
        if (finished && !upgraded) {
            // Bytes after the end of the response: the connection is not clean (it was already ended or released,
            // and then drops this credit).
            unclean = true;
            data.release();
            flushCredit();
            return;
        }
        if (upgraded) {
            toTunnel(data, n);
            return;
        }
        lastReadNanos = System.nanoTime();
        decoder.writeInbound(data);
        drainDecoder();
        if (upgraded || finished || !response.writeQueueFull()) {
            // after a 101 the bytes went to the tunnel (or wait in `early`); after the end, nowhere
            flushCredit();
        }
    }

    private void drainDecoder() {
        Object msg;
        while ((msg = decoder.readInbound()) != null) {
            if (finished && !upgraded) {
                // A second response, or anything, after the end of this one: never reuse this connection.
                unclean = true;
                release(msg);
                continue;
            }
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
                    unclean = true;
                    fail(502, "the agent's service sent an invalid HTTP response");
                    release(msg);
                    continue;
                }
                serviceKeepAlive = HttpUtil.isKeepAlive(r);
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
                        boolean last = c instanceof LastHttpContent;
                        if (c.decoderResult().isFailure()) {
                            unclean = true;
                            abortClient();
                        } else if (c.content().isReadable()) {
                            bytesOut += c.content().readableBytes();
                            Buffer chunk = copyOf(c.content());
                            headPending = false;
                            if (last) {
                                // head (if still pending), body and end in one write
                                finished = true;
                                endAfterDrain = true;
                                response.end(chunk);
                                complete();
                            } else {
                                response.write(chunk);
                            }
                        }
                        if (last && !finished) {
                            finished = true;
                            endAfterDrain = true;
                            headPending = false;
                            response.end();
                            complete();
                        }
                    }
                } finally {
                    c.release();
                }
            } else if (msg instanceof ByteBuf raw) {
                // After a 101 the decoder passes bytes through as they are.
                if (tunnel != null) {
                    bytesOut += raw.readableBytes();
                    tunnel.write(copyOf(raw));
                    raw.release();
                } else if (upgraded && !finished) {
                    early.add(raw);
                } else {
                    raw.release();
                }
            }
        }
        if (headPending) {
            // no body bytes came with the head: it goes out now (server-sent events, long polls)
            headPending = false;
            if (!finished && !clientGone) {
                response.writeHead();
            }
        }
        if (responseStarted && !finished && !upgraded && !readTimerPhase) {
            // the head came and the body has not ended with it: from now on the timer measures silences between reads
            startReadTimer();
        }
        if (endAfterDrain) {
            endAfterDrain = false;
            boolean clean =
                    pool.enabled() && !upgrade && serviceKeepAlive && !unclean && decoderHandler.leftover() == 0;
            endStream(clean);
        }
    }

    /**
     * {@code bytes}' readable bytes in one new heap buffer: copied once ({@code Buffer.buffer(byte[])} copies its array
     * again), and owned by the caller's {@link Buffer} alone, so {@code bytes} may be released right away.
     */
    private static Buffer copyOf(ByteBuf bytes) {
        return Buffer.buffer(Unpooled.copiedBuffer(bytes));
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
        List<String> listed = connectionListed(r.headers().getAll(HttpHeaderNames.CONNECTION));
        if (status == 101 && upgrade) {
            for (Map.Entry<String, String> e : r.headers()) {
                String name = e.getKey();
                if (!name.equalsIgnoreCase("connection")
                        && !name.equalsIgnoreCase("upgrade")
                        && !isListed(name, listed)) {
                    response.headers().add(e.getKey(), e.getValue());
                }
            }
            // Vert.x sends the 101 with exactly these headers: a WebSocket client refuses one without them (RFC 6455
            // 4.1), so the upgrade the service agreed to is named again.
            String protocol = r.headers().get(HttpHeaderNames.UPGRADE);
            response.headers().set(HttpHeaderNames.CONNECTION, "Upgrade");
            response.headers().set(HttpHeaderNames.UPGRADE, protocol != null ? protocol : request.getHeader("Upgrade"));
            upgraded = true;
            cancelResponseTimer(); // an upgraded connection may stay silent; upgrade-half-close-timeout bounds its end
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
        // As the decoder made them: names are AsciiStrings, which the String view decoded into a new String each;
        // Vert.x encodes either kind.
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = r.headers().iteratorCharSequence(); it.hasNext(); ) {
            Map.Entry<CharSequence, CharSequence> e = it.next();
            CharSequence name = e.getKey();
            if (isHopByHop(name) || isListed(name, listed)) {
                continue;
            }
            response.headers().add(name, e.getValue());
        }
        boolean hasLength = r.headers().contains(HttpHeaderNames.CONTENT_LENGTH);
        boolean noBody = status == 204
                || status == 304
                || (status >= 100 && status < 200)
                || request.method() == io.vertx.core.http.HttpMethod.HEAD;
        if (!hasLength && !noBody) {
            response.setChunked(true);
        }
        response.drainHandler(v -> flushCredit());
        if (noBody) {
            response.writeHead();
        } else {
            // with the first body bytes or the end, else at the end of this drain (headPending): server-sent events and
            // long polls never wait for more bytes from the service
            headPending = true;
        }
    }

    private void startTunnel(NetSocket socket) {
        tunnel = socket;
        SocketBridge.configure(socket); // half-close allowed: the client's FIN arrives as an event
        socket.handler(buf -> {
            bytesIn += buf.length();
            write(ByteBuffer.wrap(buf.getBytes()));
        });
        if (socket instanceof NetSocketInternal internal) {
            internal.eventHandler(event -> {
                if (event == ChannelInputShutdownEvent.INSTANCE) {
                    clientFinished();
                }
            });
        } else {
            socket.endHandler(v -> clientFinished());
        }
        socket.closeHandler(v -> {
            tunnelClosed = true;
            cancelHalfClosedTimer();
            if (!finished) {
                finished = true;
                complete();
            }
            if (!clientFin || !serviceFin) {
                resetStream(ResetCode.CANCELLED, "the HTTP client closed the upgraded connection");
            } // else both sides ended: the stream's FIN follows the client's last bytes to the service
        });
        socket.drainHandler(v -> flushCredit());
        // Bytes the service sent right after its 101.
        for (ByteBuf raw : early) {
            bytesOut += raw.readableBytes();
            socket.write(copyOf(raw));
            raw.release();
        }
        early.clear();
        drainDecoder();
        if (serviceFin) {
            endTunnelOutput();
        }
        updateReading();
    }

    /** The client's FIN on the upgraded connection (its event loop, this exchange's HTTP thread). */
    private void clientFinished() {
        if (clientFin || tunnelClosed) {
            return;
        }
        clientFin = true;
        ServiceConnection c = conn;
        if (c != null) {
            c.finishWriting(this); // after every byte written before it: same thread, same order
        }
        if (serviceFin) {
            tunnel.close();
        } else {
            startHalfClosedTimer();
        }
    }

    /** The service ended its side: the client gets a FIN once everything before it was written. */
    private void endTunnelOutput() {
        NetSocket t = tunnel;
        t.write(Buffer.buffer())
                .onComplete(ar -> onHttp(() -> {
                    if (tunnelClosed) {
                        return;
                    }
                    if (clientFin) {
                        t.close();
                        return;
                    }
                    if (t instanceof NetSocketInternal internal
                            && internal.channelHandlerContext().channel() instanceof DuplexChannel duplex) {
                        if (!duplex.isOutputShutdown()) {
                            duplex.shutdownOutput();
                        }
                        startHalfClosedTimer();
                    } else {
                        t.close();
                    }
                }));
    }

    /**
     * The request's end went to the service: its answer's head must come within {@code route-response-timeout}, else
     * the client gets 504 and the connection is reset (never pooled again). Started again when the request is sent
     * again on a new stream.
     */
    private void startHeadTimer() {
        if (finished || responseStarted || clientGone) {
            return;
        }
        cancelResponseTimer();
        readTimerPhase = false;
        ServiceConnection c = conn;
        long ms = pool.responseTimeoutMillis();
        long seq = ++responseTimerSeq;
        responseTimer = schedule(ms, () -> {
            if (responseTimerSeq != seq || responseTimer == null) {
                return;
            }
            responseTimer = null;
            if (finished || responseStarted || clientGone || c != conn) {
                return;
            }
            LOG.debugf("route %s/%s: no response head within %d ms; 504", agent, service, ms);
            unclean = true;
            fail(504, "the agent's service did not answer within " + ms + " ms");
        });
    }

    /**
     * Runs {@code task} on this exchange's HTTP thread after {@code ms}, through Netty's scheduler of that event loop:
     * a Vert.x timer also kept every timer in a shared map and wrapped its task in a context, for a timer that is
     * set and cancelled once per request and almost never fires.
     */
    private io.netty.util.concurrent.ScheduledFuture<?> schedule(long ms, Runnable task) {
        return httpContext
                .nettyEventLoop()
                .schedule(() -> onHttp(task), Math.max(1, ms), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /**
     * The response's head came and its body is under way: each silence between reads must end within
     * {@code route-read-timeout}. The timer is not moved at every read: when it fires it waits again for what is left
     * since the last read (as Netty's idle handlers do). Time the client's full write queue holds the service back
     * (its credit is withheld) does not count.
     */
    private void startReadTimer() {
        cancelResponseTimer();
        readTimerPhase = true;
        scheduleReadTimer(pool.readTimeoutMillis());
    }

    private void scheduleReadTimer(long ms) {
        long seq = ++responseTimerSeq;
        responseTimer = schedule(ms, () -> {
            if (responseTimerSeq != seq || responseTimer == null) {
                return;
            }
            responseTimer = null;
            if (finished || upgraded || clientGone) {
                return;
            }
            long limit = pool.readTimeoutMillis();
            if (response.writeQueueFull()) {
                // the client is slow, not the service: the service waits for credit
                lastReadNanos = System.nanoTime();
                scheduleReadTimer(limit);
                return;
            }
            long silent = (System.nanoTime() - lastReadNanos) / 1_000_000;
            if (silent < limit) {
                scheduleReadTimer(limit - silent);
                return;
            }
            LOG.debugf("route %s/%s: response body silent for %d ms; closed", agent, service, silent);
            unclean = true;
            abortClient();
        });
    }

    /**
     * The stream to the service is full: the service must read some of the request body within
     * {@code route-send-timeout}, else the client gets 504 (its connection closed after it, since its body was not
     * read) or, once the response began, a closed connection; the stream is reset, so the connection is never reused.
     */
    private void startSendTimer() {
        if (sendTimer != null || finished || upgraded || clientGone) {
            return;
        }
        long ms = pool.sendTimeoutMillis();
        long seq = ++sendTimerSeq;
        ServiceConnection c = conn;
        sendTimer = schedule(ms, () -> {
            if (sendTimerSeq != seq || sendTimer == null) {
                return;
            }
            sendTimer = null;
            if (finished || upgraded || clientGone || c != conn || !streamFull) {
                return;
            }
            LOG.debugf("route %s/%s: the service left the request body unread for %d ms; 504", agent, service, ms);
            unclean = true;
            closeAfterAnswer = true;
            fail(504, "the agent's service did not read the request within " + ms + " ms");
        });
    }

    private void cancelSendTimer() {
        if (sendTimer != null) {
            sendTimer.cancel(false);
            sendTimer = null;
        }
    }

    private void cancelResponseTimer() {
        if (responseTimer != null) {
            responseTimer.cancel(false);
            responseTimer = null;
        }
    }

    private void startHalfClosedTimer() {
        if (halfClosedTimer >= 0 || tunnelClosed) {
            return;
        }
        long ms = pool.halfClosedMillis();
        halfClosedTimer = pool.vertx()
                .setTimer(
                        ms,
                        id -> onHttp(() -> {
                            halfClosedTimer = -1;
                            if (tunnelClosed) {
                                return;
                            }
                            LOG.debugf(
                                    "route %s/%s: upgraded connection half-closed for over %d ms; closed",
                                    agent, service, ms);
                            resetStream(
                                    ResetCode.CANCELLED,
                                    "the upgraded connection stayed half-closed for over " + ms + " ms");
                            tunnel.close();
                        }));
    }

    private void cancelHalfClosedTimer() {
        if (halfClosedTimer >= 0) {
            pool.vertx().cancelTimer(halfClosedTimer);
            halfClosedTimer = -1;
        }
    }

    private void toTunnel(ByteBuf data, int n) {
        if (tunnel == null) {
            // toNetSocket has not completed yet: the decoder (in its upgraded state) keeps the bytes until then.
            decoder.writeInbound(data);
            flushCredit();
            return;
        }
        bytesOut += n;
        tunnel.write(copyOf(data));
        data.release();
        if (!tunnel.writeQueueFull()) {
            flushCredit();
        }
    }

    private void serviceFinished() {
        unclean = true;
        if (finished && !upgraded) {
            return;
        }
        if (upgraded) {
            if (!serviceFin) {
                serviceFin = true;
                if (tunnel != null) {
                    endTunnelOutput();
                } // else startTunnel ends it after the bytes the service sent
            }
            return;
        }
        if (!responseStarted && diedUnanswered()) {
            retryOrFail("the service closed the connection");
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
        io.vertx.core.Future<Void> written = response.setStatusCode(st)
                .putHeader("Content-Type", "text/plain; charset=utf-8")
                .putHeader("Connection", "close")
                .end(message + "\n");
        if (closeAfterAnswer) {
            // the rest of the request body was never read: the connection cannot carry another request
            written.onComplete(ar -> request.connection().close());
        }
        complete();
    }

    private void abortClient() {
        if (!finished) {
            finished = true;
            complete();
        }
        resetStream(ResetCode.CANCELLED, "the route request was aborted");
        request.connection().close();
    }

    private void clientClosed() {
        clientGone = true;
        if (!(clientFin && serviceFin)) {
            resetStream(ResetCode.CANCELLED, "the HTTP client went away");
        }
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
        cancelResponseTimer();
        cancelSendTimer();
        if (!endAfterDrain && conn != null) {
            // ended other than by a complete response (drainDecoder decides the codec's fate then): the connection
            // serves nothing more
            conn.releaseCodec();
        }
        early.forEach(ByteBuf::release);
        early.clear();
        done.done(request.method().name(), status, System.nanoTime() - started, bytesIn, bytesOut);
    }

    private void onHttp(Runnable r) {
        if (httpContext.nettyEventLoop().inEventLoop()) {
            guarded(r);
        } else {
            httpContext.runOnContext(v -> guarded(r));
        }
    }

    /** A bug here must end this request, never the agent's session whose thread may be running it. */
    private void guarded(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.warnf(e, "route request failed");
            clientGone = true;
            resetStream(ResetCode.INTERNAL, "route request failed on the exit");
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
