package dev.splitstream.entry.it;

import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameSink;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ReplayGuard;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.ServerHandshake;
import dev.splitstream.protocol.Session;
import dev.splitstream.protocol.SessionListener;
import dev.splitstream.protocol.Stream;
import dev.splitstream.protocol.StreamHandler;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.PfxOptions;
import io.vertx.core.net.impl.NetSocketInternal;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tiny exit node for tests, built only from the protocol library over a Vert.x WebSocket server: handshake (NEW and
 * RESUME), sessions, dialing targets on loopback, refusing ports in a deny set with NOT_ALLOWED. It can drop its
 * WebSockets (a network cut) or forget its sessions (a restart). Everything runs on one Vert.x context.
 */
final class FakeExit implements AutoCloseable {
    static final String TOKEN_ID = "default";

    private final Vertx vertx = Vertx.vertx();
    private final Context ctx = vertx.getOrCreateContext();
    private final Secret token;
    private final Set<Integer> deniedPorts;
    private final Limits limits = Limits.defaults();
    private final ReplayGuard replay = ReplayGuard.forLimits(limits, 10_000, Clock.systemUTC());
    private final SecureRandom random = new SecureRandom();
    private final Map<String, Session> sessions = new HashMap<>();
    private final List<Conn> conns = new ArrayList<>();
    private final NetClient dialer;
    private final AtomicInteger handshakes = new AtomicInteger();
    private HttpServer server;

    private final Path pkcs12;

    FakeExit(String token, Set<Integer> deniedPorts) {
        this(token, deniedPorts, null);
    }

    /** @param pkcs12 key store (password "changeit") to serve wss:// with, or null for ws:// */
    FakeExit(String token, Set<Integer> deniedPorts, Path pkcs12) {
        this.pkcs12 = pkcs12;
        this.token = Secret.ofText(token);
        this.deniedPorts = deniedPorts;
        this.dialer =
                vertx.createNetClient(new NetClientOptions().setTcpNoDelay(true).setConnectTimeout(5000));
    }

    int start() throws Exception {
        return start(0);
    }

    int start(int fixedPort) throws Exception {
        CompletableFuture<Integer> port = new CompletableFuture<>();
        ctx.runOnContext(v -> {
            HttpServerOptions options = new HttpServerOptions()
                    .setHost("127.0.0.1")
                    .setPort(fixedPort)
                    .setWebSocketSubProtocols(List.of("splitstream.v1"))
                    .setMaxWebSocketMessageSize(1 << 20);
            if (pkcs12 != null) {
                options.setSsl(true)
                        .setKeyCertOptions(
                                new PfxOptions().setPath(pkcs12.toString()).setPassword("changeit"));
            }
            server = vertx.createHttpServer(options).webSocketHandler(this::onWebSocket);
            server.listen().onSuccess(s -> port.complete(s.actualPort())).onFailure(port::completeExceptionally);
            vertx.setPeriodic(100, id -> sessions.values().forEach(Session::flushAck));
        });
        return port.get(10, TimeUnit.SECONDS);
    }

    /** Sessions and their streams' flow-control state, for failure messages. */
    String describe() throws Exception {
        CompletableFuture<String> out = new CompletableFuture<>();
        ctx.runOnContext(v -> {
            StringBuilder b = new StringBuilder();
            sessions.values().forEach(s -> b.append(s)
                    .append(" attached=")
                    .append(s.isAttached())
                    .append(" unacked=")
                    .append(s.unackedBytes())
                    .append(" lastRecv=")
                    .append(s.lastReceivedSeq())
                    .append(" stats=")
                    .append(s.stats())
                    .append('\n'));
            bridges.forEach(br -> b.append("  ")
                    .append(br.stream)
                    .append(" sendWindow=")
                    .append(br.stream.sendWindow())
                    .append(" queued=")
                    .append(br.stream.queuedBytes())
                    .append(" recvWindow=")
                    .append(br.stream.receiveWindow())
                    .append(" autoRead=")
                    .append(((NetSocketInternal) br.socket)
                            .channelHandlerContext()
                            .channel()
                            .config()
                            .isAutoRead())
                    .append(" targetWritable=")
                    .append(!br.socket.writeQueueFull())
                    .append('\n'));
            out.complete(b.toString());
        });
        return out.get(10, TimeUnit.SECONDS);
    }

    private final List<Bridge> bridges = new ArrayList<>();

    int handshakes() {
        return handshakes.get();
    }

    /** Closes every WebSocket, as a network cut would; sessions stay for a resume. */
    void dropConnections() throws Exception {
        call(this::closeConnections);
    }

    /**
     * The current WebSockets go silent both ways (a half-dead path: no error, nothing arrives): only the entry's ping
     * timeout can notice. New connections work normally.
     */
    void silenceConnections() throws Exception {
        call(() -> {
            for (Conn c : conns) {
                c.deaf = true;
                if (c.session != null) {
                    c.session.detach(c);
                }
            }
        });
    }

    /** Forgets every session, as a restart would: a resume then gets UNKNOWN_SESSION. */
    void forgetSessions() throws Exception {
        call(() -> {
            closeConnections();
            List<Session> old = new ArrayList<>(sessions.values());
            sessions.clear();
            // No sink is attached any more: the entry hears nothing, as after a crash; the targets' sockets close.
            old.forEach(s -> s.close(CloseCode.GOING_AWAY, "restart"));
        });
    }

    private void closeConnections() {
        for (Conn c : new ArrayList<>(conns)) {
            c.closed = true;
            if (c.session != null) {
                c.session.detach(c);
            }
            c.ws.close((short) 1001, "dropped by test");
        }
        conns.clear();
    }

    private void call(Runnable r) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        ctx.runOnContext(v -> {
            try {
                r.run();
                done.complete(null);
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        });
        done.get(10, TimeUnit.SECONDS);
    }

    private void onWebSocket(ServerWebSocket ws) {
        // An ingress would route on a path prefix and may keep it: accept any prefix.
        if (!ws.path().endsWith("/splitstream/v1/ws")) {
            ws.reject(404);
            return;
        }
        ws.accept();
        Conn conn = new Conn(ws);
        ctx.runOnContext(v -> {
            conns.add(conn);
            ws.binaryMessageHandler(buf -> ctx.runOnContext(x -> conn.onMessage(buf)));
            ws.closeHandler(x -> ctx.runOnContext(y -> conn.onClose()));
            ws.exceptionHandler(t -> System.err.println("fake exit: WebSocket error: " + t));
        });
    }

    /** One WebSocket: the handshake, then a sink of its session. */
    private final class Conn implements FrameSink {
        final ServerWebSocket ws;
        /** The handshake's codec, then (after the WELCOME) this connection's sealing one, as the real exit node does. */
        FrameCodec codec = new FrameCodec(limits);
        /** The session's codec for what arrives after the PROOF. */
        FrameCodec inbound = codec;

        final ServerHandshake handshake;
        Session session;
        boolean closed;
        boolean deaf;

        Conn(ServerWebSocket ws) {
            this.ws = ws;
            this.handshake = new ServerHandshake(
                    id -> TOKEN_ID.equals(id) ? Optional.of(token) : Optional.empty(),
                    sid -> Optional.ofNullable(sessions.get(HexFormat.of().formatHex(sid)))
                            .map(Session::sessionKey),
                    replay,
                    limits,
                    dev.splitstream.protocol.Capabilities.ENCRYPTED,
                    Clock.systemUTC(),
                    random);
        }

        @Override
        public void send(Frame frame) {
            if (!closed && !deaf) {
                ws.writeBinaryMessage(Buffer.buffer(Unpooled.wrappedBuffer(codec.encode(frame))));
            }
        }

        void onMessage(Buffer buf) {
            if (closed || deaf) {
                return;
            }
            try {
                Frame frame = inbound.decodeMessage(buf.getByteBuf().nioBuffer());
                if (session != null) {
                    session.receive(frame);
                } else if (frame instanceof Frame.Hello) {
                    send(handshake.onHello(frame));
                } else {
                    HandshakeResult result = handshake.onProof(frame);
                    inbound = FrameCodec.forSession(limits, result, null);
                    handshakes.incrementAndGet();
                    String hex = HexFormat.of().formatHex(result.sessionId());
                    if (result.intent() == Frame.Intent.NEW) {
                        session = new Session(Session.Role.SERVER, result, limits, new Targets(), System::nanoTime);
                        sessions.put(hex, session);
                    } else {
                        session = sessions.get(hex);
                    }
                    send(handshake.welcome(session.lastReceivedSeq()));
                    codec = inbound;
                    session.attach(this, result.peerLastReceivedSeq());
                }
            } catch (ProtocolException e) {
                send(new Frame.Close(e.code(), e.getMessage()));
                closed = true;
                ws.close((short) 1008, e.code().name());
            }
        }

        void onClose() {
            closed = true;
            conns.remove(this);
            if (session != null) {
                session.detach(this);
            }
        }
    }

    /** Dials targets the entry opens streams to. */
    private final class Targets implements SessionListener {
        @Override
        public void onStreamOpened(Stream stream) {
            if (deniedPorts.contains(stream.port())) {
                stream.reset(
                        ResetCode.NOT_ALLOWED,
                        "target " + stream.host() + ":" + stream.port() + " is not in the allow-list");
                return;
            }
            dialer.connect(stream.port(), stream.host())
                    .onComplete(ar -> ctx.runOnContext(v -> {
                        if (ar.failed()) {
                            stream.reset(
                                    ResetCode.CONNECT_FAILED,
                                    String.valueOf(ar.cause().getMessage()));
                        } else {
                            new Bridge(stream, ar.result()).start();
                        }
                    }));
        }
    }

    /** Target socket to stream, with pause/resume both ways. */
    private final class Bridge implements StreamHandler {
        final Stream stream;
        final NetSocket socket;
        boolean inputDone;

        Bridge(Stream stream, NetSocket socket) {
            this.stream = stream;
            this.socket = socket;
        }

        void start() {
            NetSocketInternal internal = (NetSocketInternal) socket;
            internal.channelHandlerContext().channel().config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            stream.accept(this);
            bridges.add(this);
            socket.handler(buf -> ctx.runOnContext(v -> {
                if (!stream.write(buf.getByteBuf().nioBuffer())) {
                    // AUTO_READ rather than pause(): a paused NetSocket lets the FIN event overtake parked bytes.
                    internal.channelHandlerContext().channel().config().setAutoRead(false);
                }
            }));
            internal.eventHandler(event -> {
                if (event == ChannelInputShutdownEvent.INSTANCE) {
                    inputDone = true;
                    ctx.runOnContext(x -> stream.finish());
                    if (((DuplexChannel) internal.channelHandlerContext().channel()).isOutputShutdown()) {
                        socket.close();
                    }
                }
            });
            // An orderly end (FIN both ways) leaves nothing to reset: Stream.reset is a no-op on a finished stream,
            // but a FIN still queued behind window-limited data must not be overtaken by a reset.
            socket.closeHandler(v -> ctx.runOnContext(x -> {
                if (!inputDone) {
                    stream.reset(ResetCode.CANCELLED, "target closed");
                }
            }));
            socket.exceptionHandler(t -> socket.close());
        }

        @Override
        public void onData(Stream s, ByteBuffer data) {
            int n = data.remaining();
            Promise<Void> written = Promise.promise();
            socket.write(Buffer.buffer(Unpooled.wrappedBuffer(data)), written);
            written.future().onComplete(ar -> ctx.runOnContext(v -> s.consumed(n)));
        }

        @Override
        public void onFin(Stream s) {
            DuplexChannel ch = (DuplexChannel)
                    ((NetSocketInternal) socket).channelHandlerContext().channel();
            socket.write(Buffer.buffer()).onComplete(ar -> {
                if (ch.isInputShutdown()) {
                    socket.close();
                } else {
                    ch.shutdownOutput();
                }
            });
        }

        @Override
        public void onReset(Stream s, ResetCode code, String message) {
            socket.close();
        }

        @Override
        public void onWritable(Stream s) {
            ((NetSocketInternal) socket)
                    .channelHandlerContext()
                    .channel()
                    .config()
                    .setAutoRead(true);
        }
    }

    @Override
    public void close() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
}
