package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;

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
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Real sockets on both ends of two in-process sessions (client and server on their own event loops, frames through the
 * codec): a client connects to a listener, the bridge opens a stream, the far session dials a target with the
 * {@link Dialer} and bridges it. The target is a plain JDK socket server, so half-close is observed as TCP sees it.
 */
class SocketBridgeTest {
    private Vertx vertx;
    private Context clientCtx;
    private Context serverCtx;
    private Session client;
    private Session server;
    private NetServer listener;
    private ServerSocket target;
    private AllowList allow;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        clientCtx = vertx.getOrCreateContext();
        serverCtx = vertx.getOrCreateContext();
        target = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        allow = AllowList.parse(List.of("127.0.0.1:" + target.getLocalPort()));
        Dialer dialer = new Dialer(vertx, Duration.ofSeconds(5));
        FrameCodec codec = new FrameCodec(Limits.defaults());
        byte[] sid = new byte[16];
        Secret key = new Secret(new byte[32]);
        Limits limits = Limits.defaults();
        HandshakeResult hr = new HandshakeResult(
                "t", Frame.Intent.NEW, sid, 1, 0, 0, key, limits.maxPayload(), limits.initialWindow());
        CompletableFuture<Void> ready = new CompletableFuture<>();
        serverCtx.runOnContext(v -> {
            server = new Session(
                    Session.Role.SERVER,
                    hr,
                    limits,
                    new SessionListener() {
                        @Override
                        public void onStreamOpened(Stream s) {
                            dialer.dial(s.host(), s.port(), allow, "test").onComplete(ar -> {
                                if (ar.failed()) {
                                    DialException e = (DialException) ar.cause();
                                    s.reset(e.code(), e.getMessage());
                                } else {
                                    new SocketBridge(
                                                    ar.result(),
                                                    "target connection",
                                                    "client",
                                                    BridgeMetrics.NONE,
                                                    null)
                                            .accept(s);
                                }
                            });
                        }
                    },
                    System::nanoTime);
            vertx.setPeriodic(10, id -> server.flushAck());
            clientCtx.runOnContext(w -> {
                client = new Session(
                        Session.Role.CLIENT, hr, limits, s -> s.reset(ResetCode.NOT_ALLOWED, "no"), System::nanoTime);
                vertx.setPeriodic(10, id -> client.flushAck());
                try {
                    client.attach(f -> deliver(codec, f, serverCtx, () -> server), 0);
                } catch (ProtocolException e) {
                    throw new IllegalStateException(e);
                }
                serverCtx.runOnContext(x -> {
                    try {
                        server.attach(f -> deliver(codec, f, clientCtx, () -> client), 0);
                    } catch (ProtocolException e) {
                        throw new IllegalStateException(e);
                    }
                    ready.complete(null);
                });
            });
        });
        ready.get(10, TimeUnit.SECONDS);
        listener = Listeners.listen(vertx, "127.0.0.1", 0, socket -> {
                    SocketBridge bridge = new SocketBridge(
                            socket, "client connection", "target", BridgeMetrics.NONE, SocketBridge.PLAIN);
                    bridge.open(endpoint -> clientCtx.runOnContext(v -> {
                        try {
                            endpoint.onOpen(client.open("127.0.0.1", target.getLocalPort(), endpoint));
                        } catch (ProtocolException e) {
                            endpoint.onOpenFailed(ResetCode.INTERNAL, e.getMessage());
                        }
                    }));
                })
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
    }

    private static void deliver(FrameCodec codec, Frame f, Context to, java.util.function.Supplier<Session> session) {
        ByteBuffer bytes = codec.encode(f);
        to.runOnContext(v -> {
            try {
                session.get().receive(codec.decodeMessage(bytes));
            } catch (ProtocolException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        target.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void bytesAndHalfCloseCrossBothWaysInOrder() throws Exception {
        byte[] upload = new byte[3 * 1024 * 1024 + 17];
        new Random(1).nextBytes(upload);
        byte[] reply = new byte[2 * 1024 * 1024 + 5];
        new Random(2).nextBytes(reply);
        CompletableFuture<byte[]> seen = new CompletableFuture<>();
        Thread server = new Thread(() -> {
            try (Socket s = target.accept()) {
                byte[] got = s.getInputStream().readAllBytes(); // until the client's FIN came through
                seen.complete(got);
                OutputStream out = s.getOutputStream();
                out.write(reply);
                s.shutdownOutput();
            } catch (Exception e) {
                seen.completeExceptionally(e);
            }
        });
        server.start();
        try (Socket c = new Socket(InetAddress.getLoopbackAddress(), listener.actualPort())) {
            c.setSoTimeout(20_000);
            c.getOutputStream().write(upload);
            c.shutdownOutput();
            byte[] back = readAll(c.getInputStream());
            assertThat(sha(seen.get(20, TimeUnit.SECONDS))).isEqualTo(sha(upload));
            assertThat(sha(back)).isEqualTo(sha(reply));
        }
        server.join(10_000);
    }

    @Test
    void targetNotAllowedClosesTheClient() throws Exception {
        allow = AllowList.parse(List.of("127.0.0.1:1"));
        try (Socket c = new Socket(InetAddress.getLoopbackAddress(), listener.actualPort())) {
            c.setSoTimeout(20_000);
            c.getOutputStream().write("hello".getBytes());
            assertThat(c.getInputStream().read()).isEqualTo(-1);
        }
    }

    private static byte[] readAll(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toByteArray();
    }

    private static String sha(byte[] b) throws Exception {
        return java.util.HexFormat.of()
                .formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
