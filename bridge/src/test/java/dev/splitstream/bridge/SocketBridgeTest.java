package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.BufferBudget;
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
    /** The two sides' node budgets (read when a connection arrives, so a test may replace them first). */
    private volatile BufferBudget clientBudget = new BufferBudget(64L << 20, 64 * 1024);

    private volatile BufferBudget serverBudget = new BufferBudget(64L << 20, 64 * 1024);

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        clientCtx = vertx.getOrCreateContext();
        serverCtx = vertx.getOrCreateContext();
        target = new ServerSocket(0, 512, InetAddress.getLoopbackAddress());
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
                                                    null,
                                                    serverBudget)
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
                            socket,
                            "client connection",
                            "target",
                            BridgeMetrics.NONE,
                            SocketBridge.PLAIN,
                            clientBudget);
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

    /**
     * Issue 11, attack 1, at the bridge: hundreds of clients pour bytes into a target that never reads them. Both sides
     * stay within twice their budgets, the connections beyond the budget are refused, a connection made before the
     * flood keeps echoing through it, and once the flood leaves (its FINs wait behind bytes nobody reads) its stalled
     * streams are evicted and new connections work again.
     */
    @Test
    void aFloodIntoATargetThatNeverReadsStaysWithinTheBudgetsAndOthersKeepWorking() throws Exception {
        clientBudget = new BufferBudget(2L << 20, 16 * 1024, Duration.ofSeconds(2), System::nanoTime);
        serverBudget = new BufferBudget(4L << 20, 16 * 1024, Duration.ofSeconds(2), System::nanoTime);
        List<Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread acceptor = new Thread(() -> {
            while (!target.isClosed()) {
                try {
                    Socket s = target.accept();
                    held.add(s);
                    Thread t = new Thread(() -> {
                        try {
                            // 'E': echo everything; 'F': read nothing more (a target that never reads)
                            if (s.getInputStream().read() == 'E') {
                                s.getInputStream().transferTo(s.getOutputStream());
                            }
                        } catch (Exception ignored) {
                            // closed
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                } catch (Exception e) {
                    return;
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        long[] maxHeld = new long[2];
        java.util.concurrent.atomic.AtomicBoolean sampling = new java.util.concurrent.atomic.AtomicBoolean(true);
        Thread sampler = new Thread(() -> {
            while (sampling.get()) {
                maxHeld[0] = Math.max(maxHeld[0], clientBudget.held());
                maxHeld[1] = Math.max(maxHeld[1], serverBudget.held());
                java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
            }
        });
        sampler.start();
        List<java.nio.channels.SocketChannel> flood = new java.util.ArrayList<>();
        try (Socket legit = new Socket(InetAddress.getLoopbackAddress(), listener.actualPort())) {
            legit.setSoTimeout(20_000);
            legit.getOutputStream().write('E');
            assertEchoes(legit, 1000);
            for (int i = 0; i < 300; i++) {
                java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
                        new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), listener.actualPort()));
                c.configureBlocking(false);
                c.write(ByteBuffer.wrap(new byte[] {'F'}));
                flood.add(c);
            }
            // 1 MB each, written as far as each connection takes it, for a few seconds
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            long[] written = new long[flood.size()];
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
            while (System.nanoTime() < until) {
                for (int i = 0; i < flood.size(); i++) {
                    if (written[i] < 1_000_000 && flood.get(i).isOpen()) {
                        try {
                            written[i] += flood.get(i).write(chunk.clear());
                        } catch (java.io.IOException refused) {
                            flood.get(i).close();
                        }
                    }
                }
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
            assertThat(clientBudget.refused())
                    .as("connections beyond the budget refused")
                    .isPositive();
            // the connection from before the flood still echoes through it
            assertEchoes(legit, 100_000);
            for (java.nio.channels.SocketChannel c : flood) {
                c.close();
            }
            try {
                // The flood's streams end: evicted once stalled, as long as any of them is left.
                org.awaitility.Awaitility.await("the flood's leases end")
                        .atMost(Duration.ofSeconds(20))
                        .pollInterval(Duration.ofMillis(500))
                        .until(() -> {
                            clientBudget.evictStalled(); // what Budgets.sweep does every 5 s in a node
                            serverBudget.evictStalled();
                            return clientBudget.leases() == 1 && serverBudget.leases() == 1;
                        });
            } catch (org.awaitility.core.ConditionTimeoutException e) {
                throw new AssertionError(
                        "client " + clientBudget.describe() + "; server " + serverBudget.describe(), e);
            }
            assertEchoes(legit, 10_000);
        } finally {
            sampling.set(false);
            sampler.join(5000);
        }
        try (Socket after = new Socket(InetAddress.getLoopbackAddress(), listener.actualPort())) {
            after.setSoTimeout(20_000);
            after.getOutputStream().write('E');
            assertEchoes(after, 100_000);
        }
        // Twice the budget, plus what streams below their share may still take at that ceiling (each keeps its
        // share): at most three times the budget; seen up to 2 x 4 MiB + 196 KiB on the exit side, where streams that
        // give way to new ones are replaced by streams that take their share.
        assertThat(maxHeld[0]).as("entry side bytes held").isLessThanOrEqualTo(3 * clientBudget.limit());
        assertThat(maxHeld[1]).as("exit side bytes held").isLessThanOrEqualTo(3 * serverBudget.limit());
        System.out.printf(
                "flood of 300 x 1 MB into a target that never reads: %d refused; max held %d KiB (budget %d KiB) and %d"
                        + " KiB (budget %d KiB); %d and %d stalled streams gave way to new ones%n",
                clientBudget.refused(),
                maxHeld[0] / 1024,
                clientBudget.limit() / 1024,
                maxHeld[1] / 1024,
                serverBudget.limit() / 1024,
                clientBudget.preempted(),
                serverBudget.preempted());
        for (Socket s : held) {
            s.close();
        }
    }

    /**
     * A stream evicted while its target does not read: the bridge must close the target socket at once, dropping the
     * bytes queued to it, and give its part of the budget back. (Vert.x's own close waits until the queue is written,
     * which never happens here: a soak's exit kept such sockets and their bytes for good and refused every new stream.)
     */
    @Test
    void anEvictedStreamClosesItsTargetSocketEvenWhenTheTargetDoesNotRead() throws Exception {
        serverBudget = new BufferBudget(256 * 1024, 16 * 1024, Duration.ofSeconds(1), System::nanoTime);
        target.setReceiveBufferSize(4096);
        CompletableFuture<Socket> accepted = new CompletableFuture<>();
        Thread acceptor = new Thread(() -> {
            try {
                accepted.complete(target.accept()); // and never read from it
            } catch (Exception e) {
                accepted.completeExceptionally(e);
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        try (java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
                new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), listener.actualPort()))) {
            c.configureBlocking(false);
            Socket quiet = accepted.get(10, TimeUnit.SECONDS);
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            // push until the exit side holds bytes it cannot write (the target's buffers are full)
            while (serverBudget.held() < 160 * 1024 && System.nanoTime() < until) {
                c.write(chunk.clear());
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
            assertThat(serverBudget.held())
                    .as("bytes queued to the target that does not read")
                    .isGreaterThan(128 * 1024);
            org.awaitility.Awaitility.await("the target's socket closed and its bytes released")
                    .atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(200))
                    .untilAsserted(() -> {
                        serverBudget.evictStalled(); // what Budgets.sweep does every 5 s in a node
                        assertThat(serverBudget.leases())
                                .as(serverBudget.describe() + ", evicted " + serverBudget.evicted())
                                .isZero();
                        assertThat(serverBudget.held())
                                .as(serverBudget.describe())
                                .isZero();
                    });
            quiet.setSoTimeout(10_000);
            try (InputStream in = quiet.getInputStream()) {
                in.skip(Long.MAX_VALUE); // what arrived before the reset, then the end
                assertThat(in.read()).isEqualTo(-1);
            } catch (java.net.SocketException reset) {
                assertThat(reset.getMessage()).containsIgnoringCase("reset");
            }
        }
    }

    /**
     * A socket that read before its bridge existed (as SOCKS5 and HTTP CONNECT clients' sockets read their request)
     * still reads within its lease's allowance: Netty keeps the read handle made at a channel's first read, so an
     * allocator set in the bridge's constructor never applied to it, and it read up to 64 KiB at once.
     */
    @Test
    void aSocketThatReadItsRequestBeforeItsBridgeReadsWithinTheAllowance() throws Exception {
        clientBudget = new BufferBudget(4L << 20, 16 * 1024);
        Thread acceptor = new Thread(() -> {
            try (Socket s = target.accept()) {
                s.getInputStream().transferTo(s.getOutputStream());
            } catch (Exception ignored) {
                // closed
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        java.util.concurrent.atomic.AtomicReference<io.vertx.core.net.NetSocket> bridged =
                new java.util.concurrent.atomic.AtomicReference<>();
        // as the entry's SOCKS5 and HTTP CONNECT listeners listen
        NetServer negotiating = Listeners.listen(
                        vertx,
                        vertx.getOrCreateContext(),
                        "127.0.0.1",
                        0,
                        clientBudget,
                        socket -> socket.handler(request -> {
                            // a one-byte "request" read before the bridge, then the bridge takes over (no early bytes)
                            socket.handler(null);
                            SocketBridge bridge = new SocketBridge(
                                    socket,
                                    "client connection",
                                    "target",
                                    BridgeMetrics.NONE,
                                    SocketBridge.PLAIN,
                                    clientBudget);
                            bridged.set(socket);
                            bridge.open(endpoint -> clientCtx.runOnContext(v -> {
                                try {
                                    endpoint.onOpen(client.open("127.0.0.1", target.getLocalPort(), endpoint));
                                } catch (ProtocolException e) {
                                    endpoint.onOpenFailed(ResetCode.INTERNAL, e.getMessage());
                                }
                            }));
                        }))
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), negotiating.actualPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write('R');
            org.awaitility.Awaitility.await("the bridge takes over")
                    .atMost(Duration.ofSeconds(10))
                    .until(() -> bridged.get() != null);
            assertEchoes(s, 1_000_000);
            io.netty.channel.Channel channel = ((io.vertx.core.net.impl.NetSocketInternal) bridged.get())
                    .channelHandlerContext()
                    .channel();
            assertThat(nextReadSize(channel))
                    .as("the next read's size after 1 MB, the budget far from spent: past the share, as the bridge"
                            + " gave its lease to the reads sized before it existed")
                    .isGreaterThan(clientBudget.share());
            // another stream commits half the budget: no read past the share is granted any more
            BufferBudget.Lease half = clientBudget.tryOpen();
            half.charge(clientBudget.limit() / 2);
            try {
                assertEchoes(s, 1_000_000);
                assertThat(nextReadSize(channel))
                        .as("the next read's size after 1 MB, half the budget committed (Netty's own sizing grows"
                                + " to 64 KiB)")
                        .isLessThanOrEqualTo(clientBudget.share());
            } finally {
                half.close();
            }
        }
    }

    /**
     * The size the channel's next read would have, asked on its event loop (like a read, a size past the share reserves
     * the extra bytes on the lease until the next read is charged).
     */
    private static int nextReadSize(io.netty.channel.Channel channel) throws Exception {
        return channel.eventLoop()
                .submit(() -> channel.unsafe().recvBufAllocHandle().guess())
                .get(10, TimeUnit.SECONDS);
    }

    private static void assertEchoes(Socket s, int bytes) throws Exception {
        byte[] sent = new byte[bytes];
        new Random(bytes).nextBytes(sent);
        s.getOutputStream().write(sent);
        byte[] got = s.getInputStream().readNBytes(bytes);
        assertThat(sha(got)).isEqualTo(sha(sent));
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
