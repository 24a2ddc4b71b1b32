package dev.splitstream.exit.transport.http;

import dev.splitstream.exit.transport.ws.TestTunnel.Recorder;
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Deflate;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.Session;
import dev.splitstream.protocol.SessionListener;
import dev.splitstream.protocol.Stream;
import io.netty.buffer.Unpooled;
import io.vertx.core.Context;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A minimal entry side of the plain-HTTP transport for tests: a Vert.x HTTP client doing the two-request handshake, an
 * upstream batcher (one POST at a time, frames back to back) as the session's sink, and a downstream loop of GETs
 * (stream or poll) feeding a real client {@link Session}. Every session call runs on one context.
 */
final class HttpTestTunnel implements AutoCloseable {
    static final long TIMEOUT_S = 15;

    /** One answer: status, headers, body. */
    record Answer(int status, MultiMap headers, Buffer body) {
        Frame frame(FrameCodec codec) throws ProtocolException {
            return codec.decodeMessage(body.getByteBuf().nioBuffer());
        }
    }

    private final Vertx vertx;
    private final HttpClient client;
    private final int port;
    final Context context;
    private volatile FrameCodec codec = new FrameCodec(Limits.defaults());
    /** Each leg's own codec (its keys come from its own handshake). */
    private final java.util.Map<String, FrameCodec> legCodecs = new java.util.concurrent.ConcurrentHashMap<>();

    private volatile Session session;
    volatile HandshakeResult established;
    volatile String tokenId;
    /** Leg that carries upstream POSTs, and the one whose GETs carry downstream frames (the same unless split). */
    volatile String upLeg;

    volatile String downLeg;
    final CompletableFuture<CloseCode> sessionClosed = new CompletableFuture<>();

    // upstream batcher, on context
    private final java.util.ArrayDeque<Buffer> pendingUp = new java.util.ArrayDeque<>();
    private boolean posting;
    private boolean flushScheduled;
    final AtomicInteger posts = new AtomicInteger();

    // downstream loop
    private volatile boolean running;
    private volatile String mode = "stream";
    private final AtomicReference<HttpClientRequest> currentGet = new AtomicReference<>();
    final AtomicInteger gets = new AtomicInteger();
    final AtomicLong downBytes = new AtomicLong();
    final AtomicInteger downStatus = new AtomicInteger();

    HttpTestTunnel(Vertx vertx, int port) {
        this(vertx, port, -1);
    }

    /** With {@code receiveBuffer} > 0, a small socket receive buffer, so a stalled reader backs up into the exit. */
    HttpTestTunnel(Vertx vertx, int port, int receiveBuffer) {
        this.vertx = vertx;
        this.port = port;
        HttpClientOptions options = new HttpClientOptions()
                .setDefaultHost("127.0.0.1")
                .setDefaultPort(port)
                .setKeepAlive(true)
                .setMaxPoolSize(8);
        if (receiveBuffer > 0) {
            options.setReceiveBufferSize(receiveBuffer);
        }
        this.client = vertx.createHttpClient(options);
        this.context = vertx.getOrCreateContext();
    }

    /** Sends {@code body} and waits for the whole answer. */
    Answer request(HttpMethod method, String uri, MultiMap headers, Buffer body) throws Exception {
        CompletableFuture<Answer> f = new CompletableFuture<>();
        context.runOnContext(v -> client.request(new RequestOptions()
                        .setMethod(method)
                        .setURI(uri)
                        .setHeaders(headers == null ? MultiMap.caseInsensitiveMultiMap() : headers))
                .compose(req -> body == null ? req.send() : req.send(body))
                .compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), resp.headers(), b)))
                .onComplete(ar -> {
                    if (ar.succeeded()) {
                        f.complete(ar.result());
                    } else {
                        f.completeExceptionally(ar.cause());
                    }
                }));
        return f.get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    Answer post(String path, MultiMap headers, Buffer body) throws Exception {
        return request(HttpMethod.POST, HttpTransport.BASE + path, headers, body);
    }

    /** A codec with the keys of the last handshake that has opened nothing yet (a second reader of that leg). */
    FrameCodec freshCodec() {
        return FrameCodec.forSession(Limits.defaults(), established, Deflate.defaults());
    }

    /** The codec of leg {@code id}: the one its handshake made. */
    FrameCodec legCodec(String id) {
        FrameCodec c = id == null ? null : legCodecs.get(id);
        return c != null ? c : codec;
    }

    /** Frames as leg {@code leg} sends them (sealed with that leg's keys). */
    Buffer encodeOn(String leg, Frame... frames) {
        Buffer b = Buffer.buffer();
        for (Frame f : frames) {
            b.appendBuffer(Buffer.buffer(Unpooled.wrappedBuffer(legCodec(leg).encode(f))));
        }
        return b;
    }

    Buffer encode(Frame... frames) {
        Buffer b = Buffer.buffer();
        for (Frame f : frames) {
            b.appendBuffer(Buffer.buffer(Unpooled.wrappedBuffer(codec.encode(f))));
        }
        return b;
    }

    /** Both handshake requests; returns the last answer (WELCOME with a leg id, or a CLOSE with its status). */
    Answer handshake(ClientHandshake hs) throws Exception {
        Answer challenge = post("/handshake", null, encode(hs.hello()));
        if (challenge.status() != 200) {
            return challenge;
        }
        Frame c = challenge.frame(codec);
        MultiMap h = MultiMap.caseInsensitiveMultiMap()
                .add(HttpTransport.HANDSHAKE_HEADER, challenge.headers().get(HttpTransport.HANDSHAKE_HEADER));
        Answer welcome = post("/handshake", h, encode(hs.onChallenge(c)));
        if (welcome.status() == 200) {
            established = hs.onWelcome(welcome.frame(codec));
            codec = FrameCodec.forSession(Limits.defaults(), established, Deflate.defaults());
            String leg = welcome.headers().get(HttpTransport.LEG_HEADER);
            if (leg != null) {
                legCodecs.put(leg, codec);
            }
        }
        return welcome;
    }

    /** NEW session; its leg carries both directions, or only upstream frames when {@code capabilities} has SPLIT. */
    Answer open(String tokenId, String secret, int capabilities) throws Exception {
        this.tokenId = tokenId;
        ClientHandshake hs = new ClientHandshake(
                tokenId,
                Secret.ofText(secret),
                Frame.Intent.NEW,
                null,
                0,
                capabilities | Capabilities.ENCRYPTED,
                Clock.systemUTC(),
                new SecureRandom());
        Answer a = handshake(hs);
        if (a.status() == 200) {
            upLeg = a.headers().get(HttpTransport.LEG_HEADER);
            downLeg = upLeg;
            HandshakeResult result = established;
            call(() -> {
                Session s =
                        new Session(Session.Role.CLIENT, result, Limits.defaults(), new Listener(), System::nanoTime);
                s.attach(this::sendUp, 0);
                session = s;
                vertx.setPeriodic(
                        100,
                        t -> context.runOnContext(x -> {
                            if (!s.isClosed()) {
                                s.flushAck();
                            } else {
                                vertx.cancelTimer(t);
                            }
                        }));
                return null;
            });
        }
        return a;
    }

    /** A handshake of {@code intent} for this tunnel's session, keyed by {@code key}; does not change the legs. */
    Answer join(Frame.Intent intent, Secret key) throws Exception {
        long last = call(() -> session.lastReceivedSeq());
        ClientHandshake hs = new ClientHandshake(
                tokenId,
                key,
                intent,
                session.id(),
                last,
                Capabilities.ENCRYPTED,
                Clock.systemUTC(),
                new SecureRandom());
        FrameCodec saved = codec;
        codec = new FrameCodec(Limits.defaults());
        HandshakeResult before = established;
        Answer a = handshake(hs);
        codec = saved;
        established = before;
        return a;
    }

    Session session() {
        return session;
    }

    <T> T call(Callable<T> task) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        context.runOnContext(v -> {
            try {
                f.complete(task.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f.get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    // ---------------------------------------------------------------- upstream

    private void sendUp(Frame frame) {
        pendingUp.add(Buffer.buffer(Unpooled.wrappedBuffer(legCodec(upLeg).encode(frame))));
        if (!holdUp && !flushScheduled && !posting) {
            flushScheduled = true;
            context.runOnContext(v -> flushUp());
        }
    }

    /** While true, frames the session sends upstream wait for {@link #takeUp()} instead of being POSTed. */
    volatile boolean holdUp;

    /** The encoded frames waiting upstream, taken out of the batcher. */
    List<Buffer> takeUp() throws Exception {
        return call(() -> {
            List<Buffer> l = new ArrayList<>(pendingUp);
            pendingUp.clear();
            return l;
        });
    }

    int pendingUpCount() throws Exception {
        return call(pendingUp::size);
    }

    /** Like {@link #post}, without waiting for the answer. */
    CompletableFuture<Answer> postAsync(String path, MultiMap headers, Buffer body) {
        CompletableFuture<Answer> f = new CompletableFuture<>();
        context.runOnContext(v -> client.request(new RequestOptions()
                        .setMethod(HttpMethod.POST)
                        .setURI(HttpTransport.BASE + path)
                        .setHeaders(headers))
                .compose(req -> req.send(body))
                .compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), resp.headers(), b)))
                .onComplete(ar -> {
                    if (ar.succeeded()) {
                        f.complete(ar.result());
                    } else {
                        f.completeExceptionally(ar.cause());
                    }
                }));
        return f;
    }

    private void flushUp() {
        flushScheduled = false;
        if (posting || pendingUp.isEmpty()) {
            return;
        }
        // At most 256 KiB per POST (the entry's default max-batch), whole frames only.
        Buffer batch = Buffer.buffer();
        while (!pendingUp.isEmpty()
                && (batch.length() == 0 || batch.length() + pendingUp.peek().length() <= 256 * 1024)) {
            batch.appendBuffer(pendingUp.poll());
        }
        posting = true;
        posts.incrementAndGet();
        client.request(new RequestOptions()
                        .setMethod(HttpMethod.POST)
                        .setURI(HttpTransport.BASE + "/up")
                        .putHeader(HttpTransport.LEG_HEADER, upLeg))
                .compose(req -> req.send(batch))
                .compose(resp -> resp.body().map(b -> resp.statusCode()))
                .onComplete(ar -> context.runOnContext(v -> {
                    posting = false;
                    if (ar.failed() || ar.result() != 200) {
                        return;
                    }
                    flushUp();
                }));
    }

    // ---------------------------------------------------------------- downstream

    /** Starts the GET loop on {@link #downLeg} in {@code mode} (stream or poll). */
    void startDown(String mode) {
        this.mode = mode;
        running = true;
        context.runOnContext(v -> nextGet());
    }

    void setMode(String mode) {
        this.mode = mode;
    }

    private void nextGet() {
        if (!running) {
            return;
        }
        long last = session.lastReceivedSeq();
        gets.incrementAndGet();
        ByteBuffer[] carry = {ByteBuffer.allocate(0)};
        client.request(new RequestOptions()
                        .setMethod(HttpMethod.GET)
                        .setURI(HttpTransport.BASE + "/down?leg=" + downLeg + "&last=" + last + "&mode=" + mode))
                .onComplete(ar -> {
                    if (ar.failed()) {
                        context.runOnContext(v -> retryGet());
                        return;
                    }
                    HttpClientRequest req = ar.result();
                    currentGet.set(req);
                    req.send().onComplete(rr -> {
                        if (rr.failed()) {
                            context.runOnContext(v -> retryGet());
                            return;
                        }
                        var resp = rr.result();
                        currentResponse.set(resp);
                        downStatus.set(resp.statusCode());
                        if (resp.statusCode() != 200) {
                            resp.body().onComplete(x -> running = false);
                            return;
                        }
                        java.util.concurrent.atomic.AtomicBoolean done =
                                new java.util.concurrent.atomic.AtomicBoolean();
                        resp.handler(chunk -> context.runOnContext(v -> {
                            downBytes.addAndGet(chunk.length());
                            carry[0] = deliver(carry[0], chunk);
                        }));
                        resp.exceptionHandler(t -> {
                            if (done.compareAndSet(false, true)) {
                                context.runOnContext(v -> nextGet());
                            }
                        });
                        resp.endHandler(x -> {
                            if (done.compareAndSet(false, true)) {
                                context.runOnContext(v -> nextGet());
                            }
                        });
                    });
                });
    }

    private void retryGet() {
        vertx.setTimer(20, t -> context.runOnContext(v -> nextGet()));
    }

    private ByteBuffer deliver(ByteBuffer carry, Buffer chunk) {
        ByteBuffer in = ByteBuffer.allocate(carry.remaining() + chunk.length());
        in.put(carry).put(chunk.getBytes()).flip();
        try {
            Frame f;
            FrameCodec down = legCodec(downLeg);
            while ((f = down.decodeNext(in)) != null) {
                session.receive(f);
            }
        } catch (ProtocolException e) {
            session.close(e.code(), e.getMessage());
        }
        ByteBuffer rest = ByteBuffer.allocate(in.remaining());
        rest.put(in).flip();
        return rest;
    }

    /** Stops reading the GET in progress for {@code ms}, as a slow client would. */
    void stallDown(long ms) {
        var resp = currentResponse.get();
        if (resp != null) {
            resp.pause();
            vertx.setTimer(ms, t -> resp.resume());
        }
    }

    private final AtomicReference<io.vertx.core.http.HttpClientResponse> currentResponse = new AtomicReference<>();

    /** Closes the connection of the GET in progress, as a network cut would; the loop asks again with its last. */
    void cutDown() {
        HttpClientRequest req = currentGet.get();
        if (req != null) {
            req.connection().close();
        }
    }

    // ---------------------------------------------------------------- streams

    Recorder openStream(String host, int port) throws Exception {
        Recorder r = new Recorder();
        call(() -> {
            r.stream = session.open(host, port, r);
            return null;
        });
        return r;
    }

    void write(Recorder r, byte[] bytes) throws Exception {
        call(() -> r.stream.write(ByteBuffer.wrap(bytes)));
    }

    @Override
    public void close() {
        running = false;
        Session s = session;
        if (s != null) {
            try {
                call(() -> {
                    if (!s.isClosed()) {
                        s.close(CloseCode.NORMAL, "test done");
                    }
                    return null;
                });
                // Let the CLOSE reach the exit before the connections go.
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
                while (System.nanoTime() < deadline && call(() -> posting || !pendingUp.isEmpty())) {
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                }
            } catch (Exception e) {
                // already gone
            }
        }
        client.close();
    }

    private final class Listener implements SessionListener {
        @Override
        public void onStreamOpened(Stream stream) {
            stream.reset(ResetCode.NOT_ALLOWED, "test client accepts no streams");
        }

        @Override
        public void onClosed(CloseCode code, String message) {
            sessionClosed.complete(code);
        }
    }
}
