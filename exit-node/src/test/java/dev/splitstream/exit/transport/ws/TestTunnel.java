package dev.splitstream.exit.transport.ws;

import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.CloseCode;
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
import dev.splitstream.protocol.StreamHandler;
import io.netty.buffer.Unpooled;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A minimal entry side for tests: a Vert.x WebSocket client speaking the real handshake and, once established, a real
 * client {@link Session}. Every session call runs on the WebSocket's context, as in the entry node.
 */
public final class TestTunnel implements AutoCloseable {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final Vertx vertx;
    private final WebSocketClient client;
    private final WebSocket ws;
    private final Context context;
    private volatile FrameCodec codec = new FrameCodec(Limits.defaults());
    /**
     * The handshake waiting for its WELCOME. The message handler verifies the WELCOME itself and switches to the
     * session's codec at once, because the exit's next frames (sealed with this connection's keys) follow right behind.
     */
    private volatile ClientHandshake pending;

    private volatile CompletableFuture<HandshakeResult> welcomed = new CompletableFuture<>();
    /** Bytes of WebSocket messages received. */
    final java.util.concurrent.atomic.AtomicLong wireBytesIn = new java.util.concurrent.atomic.AtomicLong();
    /** Frames received before a session exists (handshake, refusals). */
    final BlockingQueue<Frame> frames = new LinkedBlockingQueue<>();

    final CompletableFuture<Short> wsClosed = new CompletableFuture<>();
    final CompletableFuture<CloseCode> sessionClosed = new CompletableFuture<>();
    private volatile Session session;
    /** Frames received on this connection. */
    final java.util.concurrent.atomic.AtomicInteger framesIn = new java.util.concurrent.atomic.AtomicInteger();

    private volatile String tokenId;
    volatile HandshakeResult established;

    private TestTunnel(Vertx vertx, WebSocketClient client, WebSocket ws, Context context) {
        this.vertx = vertx;
        this.client = client;
        this.ws = ws;
        this.context = context;
    }

    public static TestTunnel connect(Vertx vertx, int port) throws Exception {
        WebSocketClient client = vertx.createWebSocketClient();
        CompletableFuture<TestTunnel> result = new CompletableFuture<>();
        Context ctx = vertx.getOrCreateContext();
        ctx.runOnContext(v -> client.connect(new WebSocketConnectOptions()
                        .setHost("127.0.0.1")
                        .setPort(port)
                        .setURI(ExitWebSocket.PATH)
                        .addSubProtocol("splitstream.v1"))
                .onComplete(ar -> {
                    if (ar.failed()) {
                        result.completeExceptionally(ar.cause());
                        return;
                    }
                    TestTunnel t = new TestTunnel(vertx, client, ar.result(), ctx);
                    t.ws.binaryMessageHandler(t::onMessage);
                    t.ws.closeHandler(x -> t.wsClosed.complete(t.ws.closeStatusCode()));
                    result.complete(t);
                }));
        return result.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    private void onMessage(Buffer message) {
        wireBytesIn.addAndGet(message.length());
        Frame frame;
        try {
            frame = codec.decodeMessage(ByteBuffer.wrap(message.getBytes()));
        } catch (ProtocolException e) {
            frames.add(new Frame.Close(CloseCode.PROTOCOL_ERROR, "client could not decode: " + e.getMessage()));
            return;
        }
        framesIn.incrementAndGet();
        ClientHandshake hs = pending;
        if (frame instanceof Frame.Welcome && hs != null) {
            pending = null;
            try {
                HandshakeResult result = hs.onWelcome(frame);
                codec = FrameCodec.forSession(Limits.defaults(), result, dev.splitstream.protocol.Deflate.defaults());
                welcomed.complete(result);
            } catch (ProtocolException e) {
                welcomed.completeExceptionally(e);
            }
        }
        if (frame instanceof Frame.Welcome && forwardAfterWelcome != null) {
            // Frames right behind the WELCOME (resent ones) already belong to the joined session.
            frames.add(frame);
            forwardTo = forwardAfterWelcome;
            return;
        }
        TestTunnel target = forwardTo;
        if (target != null) {
            target.context.runOnContext(v -> target.deliver(frame));
            return;
        }
        Session s = session;
        if (s == null) {
            frames.add(frame);
            return;
        }
        deliver(frame);
    }

    private void deliver(Frame frame) {
        Session s = session;
        try {
            s.receive(frame);
        } catch (ProtocolException e) {
            s.close(e.code(), e.getMessage());
        }
    }

    /** The codec of this connection (the session's, with this connection's keys, after the handshake). */
    FrameCodec codec() {
        return codec;
    }

    void send(Frame frame) {
        sendRaw(codec.encode(frame));
    }

    void sendRaw(ByteBuffer bytes) {
        ws.writeBinaryMessage(Buffer.buffer(Unpooled.wrappedBuffer(bytes)));
    }

    Frame nextFrame() throws InterruptedException {
        Frame f = frames.poll(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        if (f == null) {
            throw new AssertionError("no frame within " + TIMEOUT);
        }
        return f;
    }

    /** Runs {@code task} on the tunnel's context and waits for its result. */
    <T> T call(Callable<T> task) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        context.runOnContext(v -> {
            try {
                f.complete(task.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    /** Runs the client handshake; returns the frame that ended it (WELCOME, or CLOSE on refusal). */
    public Frame handshake(String tokenId, String secret) throws Exception {
        return handshake(tokenId, secret, 0);
    }

    /** As {@link #handshake(String, String)}, asking for {@code capabilities}. */
    Frame handshake(String tokenId, String secret, int capabilities) throws Exception {
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
        send(hs.hello());
        Frame challenge = nextFrame();
        if (!(challenge instanceof Frame.Challenge)) {
            return challenge;
        }
        welcomed = new CompletableFuture<>();
        pending = hs;
        send(hs.onChallenge(challenge));
        Frame welcome = nextFrame();
        if (welcome instanceof Frame.Welcome) {
            HandshakeResult result = welcomed.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            established = result;
            call(() -> {
                Session s =
                        new Session(Session.Role.CLIENT, result, Limits.defaults(), new Listener(), System::nanoTime);
                sink = frame -> send(frame);
                s.attach(sink, 0);
                session = s;
                return s;
            });
        }
        return welcome;
    }

    /**
     * Resumes {@code previous}'s session over this connection: RESUME handshake keyed by the session key, then the
     * session is attached to this connection (on the previous tunnel's context, where the session lives).
     */
    Frame resume(TestTunnel previous) throws Exception {
        return join(previous, Frame.Intent.RESUME);
    }

    /**
     * RESUME or JOIN_* handshake for {@code previous}'s session over this connection. Frames arriving here go to that
     * session; for RESUME and JOIN_UPSTREAM the session's outbound frames move to this connection.
     */
    Frame join(TestTunnel previous, Frame.Intent intent) throws Exception {
        Session s = previous.session;
        long lastReceived = previous.call(s::lastReceivedSeq);
        ClientHandshake hs = new ClientHandshake(
                previous.tokenId,
                s.sessionKey(),
                intent,
                s.id(),
                lastReceived,
                Capabilities.ENCRYPTED,
                Clock.systemUTC(),
                new SecureRandom());
        send(hs.hello());
        Frame challenge = nextFrame();
        if (!(challenge instanceof Frame.Challenge)) {
            return challenge;
        }
        forwardAfterWelcome = previous;
        welcomed = new CompletableFuture<>();
        pending = hs;
        send(hs.onChallenge(challenge));
        Frame welcome = nextFrame();
        if (welcome instanceof Frame.Welcome) {
            HandshakeResult result = welcomed.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            TestTunnel self = this;
            if (intent != Frame.Intent.JOIN_DOWNSTREAM) {
                previous.call(() -> {
                    s.attach(frame -> self.send(frame), result.peerLastReceivedSeq());
                    return null;
                });
            }
        }
        return welcome;
    }

    /** Drops the WebSocket without closing the session (as a network failure would). */
    void dropConnection() throws Exception {
        call(() -> {
            session.detach(sinkOf());
            ws.close();
            return null;
        });
    }

    private dev.splitstream.protocol.FrameSink sink;

    private dev.splitstream.protocol.FrameSink sinkOf() {
        return sink;
    }

    private volatile TestTunnel forwardTo;
    private volatile TestTunnel forwardAfterWelcome;

    Session session() {
        return session;
    }

    /** Opens a stream and returns its recorder (which sees accept, data, fin and reset). */
    public Recorder open(String host, int port) throws Exception {
        Recorder r = new Recorder();
        call(() -> {
            r.stream = session.open(host, port, r);
            return null;
        });
        return r;
    }

    public void write(Recorder r, String text) throws Exception {
        call(() -> r.stream.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8))));
    }

    void flushAck() throws Exception {
        call(() -> {
            session.flushAck();
            return null;
        });
    }

    /** Ends the session politely (so the node does not keep it for a resume), then the connection. */
    @Override
    public void close() {
        Session s = session;
        if (s != null && forwardTo == null) {
            try {
                call(() -> {
                    if (!s.isClosed()) {
                        s.close(CloseCode.NORMAL, "test done");
                    }
                    return null;
                });
            } catch (Exception e) {
                // the connection may be gone already
            }
        }
        ws.close();
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

    /** Records one stream's events and bytes; the HTTP transport's test client uses it too. */
    public static final class Recorder implements StreamHandler {
        public Stream stream;
        public final CompletableFuture<Void> accepted = new CompletableFuture<>();
        public final CompletableFuture<Void> fin = new CompletableFuture<>();
        public final CompletableFuture<String> reset = new CompletableFuture<>();
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();

        @Override
        public void onAccepted(Stream s) {
            accepted.complete(null);
        }

        @Override
        public void onData(Stream s, ByteBuffer data) {
            int n = data.remaining();
            byte[] bytes = new byte[n];
            data.get(bytes);
            synchronized (received) {
                received.writeBytes(bytes);
            }
            s.consumed(n);
        }

        @Override
        public void onFin(Stream s) {
            fin.complete(null);
        }

        @Override
        public void onReset(Stream s, ResetCode code, String message) {
            reset.complete(code + " " + message);
            accepted.completeExceptionally(new AssertionError("reset: " + code + " " + message));
        }

        String received() {
            synchronized (received) {
                return received.toString(StandardCharsets.UTF_8);
            }
        }

        public byte[] receivedBytes() {
            synchronized (received) {
                return received.toByteArray();
            }
        }

        public int receivedLength() {
            synchronized (received) {
                return received.size();
            }
        }
    }
}
