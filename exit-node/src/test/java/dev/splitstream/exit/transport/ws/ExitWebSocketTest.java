package dev.splitstream.exit.transport.ws;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;

import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameProtection;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.Session;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import org.jboss.logmanager.ExtLogRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The exit node's WebSocket endpoint against a real client handshake and session (see application.properties for the
 * test profile: token "test", loopback targets allowed, max 4 streams, 16K frames, 3s handshake timeout).
 */
@QuarkusTest
class ExitWebSocketTest {
    static final String TOKEN_ID = "test";
    static final String SECRET = "test-secret-0123456789-DO-NOT-LOG";

    @Inject
    Vertx vertx;

    @Inject
    ExitMetrics metrics;

    @TestHTTPResource("/")
    URL base;

    /** The management interface (health, metrics): its own port, never the tunnel's. */
    @TestHTTPResource(value = "/", management = true)
    URL management;

    private static NetServer echo;
    private final List<TestTunnel> tunnels = new ArrayList<>();
    private final List<String> logs = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            String msg = record instanceof ExtLogRecord ext ? ext.getFormattedMessage() : record.getMessage();
            logs.add(record.getLevel() + " " + record.getLoggerName() + " " + msg);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeAll
    static void startEcho() throws Exception {
        Vertx v = io.quarkus.arc.Arc.container().instance(Vertx.class).get();
        echo = v.createNetServer(
                        new NetServerOptions().setHost("127.0.0.1").setPort(0).setTcpNoDelay(true))
                .connectHandler(socket -> socket.handler(socket::write))
                .listen()
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopEcho() {
        if (echo != null) {
            echo.close();
        }
    }

    @BeforeEach
    void captureLogs() {
        java.util.logging.Logger.getLogger("").addHandler(capture);
    }

    @AfterEach
    void closeTunnels() {
        java.util.logging.Logger.getLogger("").removeHandler(capture);
        tunnels.forEach(TestTunnel::close);
    }

    private TestTunnel connect() throws Exception {
        TestTunnel t = TestTunnel.connect(vertx, base.getPort());
        tunnels.add(t);
        return t;
    }

    private static void assumeSessionImplemented() {
        try {
            new Session(
                    Session.Role.CLIENT,
                    new HandshakeResult(
                            "t", Frame.Intent.NEW, new byte[16], 1, 0, 0, Secret.ofText("k"), 65536, 262144),
                    Limits.defaults(),
                    stream -> {},
                    System::nanoTime);
        } catch (UnsupportedOperationException e) {
            Assumptions.abort("protocol Session not implemented yet");
        }
    }

    @Test
    void wrongSecretIsRefusedWithAuthFailedAndTheSecretIsNeverLogged() throws Exception {
        TestTunnel t = connect();
        Frame end = t.handshake(TOKEN_ID, "wrong-secret-0123456789-ALSO-SECRET");
        assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> {
            assertThat(c.code()).isEqualTo(CloseCode.AUTH_FAILED);
            assertThat(c.message()).doesNotContain(SECRET).doesNotContain("ALSO-SECRET");
        });
        assertThat(t.wsClosed.get(10, TimeUnit.SECONDS)).isEqualTo((short) 1008);
        await().atMost(5, TimeUnit.SECONDS)
                .until(() -> logs.stream().anyMatch(l -> l.contains("handshake refused: AUTH_FAILED")));
        assertThat(logs).noneMatch(l -> l.contains(SECRET) || l.contains("ALSO-SECRET"));
        String metrics = onManagement()
                .get("/q/metrics")
                .then()
                .statusCode(200)
                .extract()
                .asString();
        assertThat(metrics)
                .contains("splitstream_exit_handshake_failures_total{reason=\"auth_failed\"}")
                .doesNotContain(SECRET);
    }

    @Test
    void unknownTokenIdIsRefused() throws Exception {
        TestTunnel t = connect();
        Frame end = t.handshake("nobody", SECRET);
        assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void replayedHandshakeIsRefusedOnAnyConnection() throws Exception {
        var client = new dev.splitstream.protocol.ClientHandshake(
                TOKEN_ID,
                Secret.ofText(SECRET),
                Frame.Intent.NEW,
                null,
                0,
                Capabilities.ENCRYPTED,
                java.time.Clock.systemUTC(),
                new java.security.SecureRandom());
        TestTunnel first = connect();
        first.send(client.hello());
        Frame.Proof recorded = client.onChallenge(first.nextFrame());
        first.send(recorded);
        assertThat(first.nextFrame()).isInstanceOf(Frame.Welcome.class);
        // The replayed HELLO takes no room anywhere: it gets a fresh challenge, which the recorded proof does not
        // answer.
        TestTunnel second = connect();
        second.send(client.hello());
        assertThat(second.nextFrame()).isInstanceOf(Frame.Challenge.class);
        second.send(recorded);
        assertThat(second.nextFrame()).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isEqualTo(CloseCode.AUTH_FAILED));
    }

    @Test
    void unmaskedFramesAreConfirmedOnlyWhenOfferedAndThenDecoded() throws Exception {
        io.vertx.core.http.WebSocketClient plain = vertx.createWebSocketClient();
        io.vertx.core.http.WebSocketClient unmasked = vertx.createWebSocketClient(
                new io.vertx.core.http.WebSocketClientOptions().setSendUnmaskedFrames(true));
        try {
            io.vertx.core.http.WebSocketConnectOptions options = new io.vertx.core.http.WebSocketConnectOptions()
                    .setHost("127.0.0.1")
                    .setPort(base.getPort())
                    .setURI(ExitWebSocket.PATH)
                    .addSubProtocol("splitstream.v1");
            // Vert.x keeps the 101 response's headers only while the connect future completes
            CompletableFuture<String> notOfferedAnswer = new CompletableFuture<>();
            // connect from a Vert.x context, so the callback is registered before the upgrade completes (from a test
            // thread the future may already be complete, and its headers gone, when the callback is added)
            vertx.runOnContext(v -> plain.connect(options).onComplete(ar -> {
                if (ar.succeeded()) {
                    notOfferedAnswer.complete(
                            String.valueOf(ar.result().headers().get(UnmaskedFrames.HEADER)));
                    ar.result().close();
                } else {
                    notOfferedAnswer.completeExceptionally(ar.cause());
                }
            }));
            assertThat(notOfferedAnswer.get(10, TimeUnit.SECONDS)).isEqualTo("null");

            CompletableFuture<String> offeredAnswer = new CompletableFuture<>();
            CompletableFuture<io.vertx.core.http.WebSocket> offeredSocket = new CompletableFuture<>();
            vertx.runOnContext(v -> unmasked.connect(new io.vertx.core.http.WebSocketConnectOptions(options)
                            .addHeader(UnmaskedFrames.HEADER, "1"))
                    .onComplete(ar -> {
                        if (ar.succeeded()) {
                            offeredAnswer.complete(ar.result().headers().get(UnmaskedFrames.HEADER));
                            offeredSocket.complete(ar.result());
                        } else {
                            offeredAnswer.completeExceptionally(ar.cause());
                            offeredSocket.completeExceptionally(ar.cause());
                        }
                    }));
            io.vertx.core.http.WebSocket offered = offeredSocket.get(10, TimeUnit.SECONDS);
            assertThat(offeredAnswer.get(10, TimeUnit.SECONDS)).isEqualTo("1");
            // an unmasked frame reaches the codec: garbage is answered with CLOSE(PROTOCOL_ERROR), not dropped by
            // the WebSocket decoder
            CompletableFuture<io.vertx.core.buffer.Buffer> answer = new CompletableFuture<>();
            offered.binaryMessageHandler(answer::complete);
            offered.writeBinaryMessage(io.vertx.core.buffer.Buffer.buffer(new byte[] {1, 2, 3}));
            Frame end = new FrameCodec(Limits.defaults())
                    .decodeMessage(answer.get(10, TimeUnit.SECONDS).getByteBuf().nioBuffer());
            assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                    .isEqualTo(CloseCode.PROTOCOL_ERROR));
        } finally {
            plain.close();
            unmasked.close();
        }
    }

    @Test
    void garbageInsteadOfHelloIsAProtocolError() throws Exception {
        TestTunnel t = connect();
        t.sendRaw(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        Frame end = t.nextFrame();
        assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isEqualTo(CloseCode.PROTOCOL_ERROR));
        assertThat(t.wsClosed.get(10, TimeUnit.SECONDS)).isEqualTo((short) 1008);
    }

    @Test
    void silentConnectionIsClosedAfterTheHandshakeTimeout() throws Exception {
        TestTunnel t = connect();
        Frame end = t.nextFrame();
        assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> {
            assertThat(c.code()).isEqualTo(CloseCode.TIMEOUT);
            assertThat(c.message()).contains("handshake");
        });
        assertThat(t.wsClosed.get(10, TimeUnit.SECONDS)).isEqualTo((short) 1008);
    }

    @Test
    void healthAndMetricsAreServedOnTheManagementPortOnly() {
        assertThat(management.getPort()).isNotEqualTo(base.getPort());
        // The public tunnel port serves the tunnel only: no figures, no probes for whoever can reach it.
        given().get("/q/metrics").then().statusCode(404);
        given().get("/q/health/live").then().statusCode(404);
        given().get("/q/health/ready").then().statusCode(404);
        given().get("/q/health").then().statusCode(404);
        onManagement().get("/q/health/live").then().statusCode(200);
        onManagement().get("/q/health/ready").then().statusCode(200).body(containsString("splitstream-exit"));
        onManagement()
                .get("/q/metrics")
                .then()
                .statusCode(200)
                .body(containsString("splitstream_exit_sessions"))
                .body(containsString("splitstream_exit_streams"))
                .body(containsString("splitstream_exit_bytes_total{direction=\"up\"}"))
                .body(containsString("splitstream_exit_rtt_seconds"));
    }

    @Test
    void streamEchoesThroughTheTunnel() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        await().atMost(5, TimeUnit.SECONDS)
                .until(() -> logs.stream().anyMatch(l -> l.contains("opened token=" + TOKEN_ID)));
        TestTunnel.Recorder r = t.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        t.write(r, "hello through the tunnel");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("hello through the tunnel"));
        // A larger transfer than one window, to exercise credit and backpressure.
        String big = "x".repeat(200_000);
        for (int i = 0; i < 5; i++) {
            t.write(r, big);
        }
        await().atMost(20, TimeUnit.SECONDS).until(() -> r.receivedLength() == 24 + 5 * 200_000);
        String metrics = onManagement().get("/q/metrics").then().extract().asString();
        assertThat(metrics).contains("splitstream_exit_bytes_total{direction=\"down\"}");
    }

    @Test
    void deflateIsAgreedWhenTheEntryAsksAndCompressesData() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET, Capabilities.DEFLATE)).isInstanceOf(Frame.Welcome.class);
        assertThat(t.established.capabilities() & Capabilities.DEFLATE).isEqualTo(Capabilities.DEFLATE);
        TestTunnel.Recorder r = t.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        long before = t.wireBytesIn.get();
        String text = "compressible text, ".repeat(20_000);
        t.write(r, text);
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.receivedLength() == text.length());
        assertThat(r.received()).isEqualTo(text);
        assertThat(t.wireBytesIn.get() - before).isLessThan(text.length() / 4);
    }

    @Test
    void targetOutsideTheAllowListIsResetNotAllowed() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        TestTunnel.Recorder r = t.open("10.1.2.3", 80);
        assertThat(r.reset.get(10, TimeUnit.SECONDS))
                .startsWith(ResetCode.NOT_ALLOWED.name())
                .contains("target 10.1.2.3:80 is not allowed for token test");
        // Name rules are absent, and no address rule covers 6379 on a non-loopback: refused before any lookup.
        TestTunnel.Recorder v6 = t.open("::2", 6379);
        assertThat(v6.reset.get(10, TimeUnit.SECONDS)).startsWith(ResetCode.NOT_ALLOWED.name());
    }

    @Test
    void namesAreResolvedAndTheResolvedAddressIsChecked() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        // "localhost" is not in the allow-list by name; its address 127.0.0.1 is.
        TestTunnel.Recorder r = t.open("localhost", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        t.write(r, "by name");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("by name"));
        TestTunnel.Recorder unknown = t.open("no-such-host.invalid", 80);
        assertThat(unknown.reset.get(15, TimeUnit.SECONDS)).startsWith(ResetCode.UNKNOWN_HOST.name());
    }

    @Test
    void closedTargetPortIsResetConnectFailed() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        TestTunnel.Recorder r = t.open("127.0.0.1", 1);
        assertThat(r.reset.get(15, TimeUnit.SECONDS)).startsWith(ResetCode.CONNECT_FAILED.name());
    }

    @Test
    void targetThatNeverAnswersTheConnectIsResetWithTimeout() throws Exception {
        assumeSessionImplemented();
        // A listener that never accepts, with its accept queue filled: further SYNs go unanswered (Linux).
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            List<Socket> fillers = new ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    Socket s = new Socket();
                    try {
                        s.connect(server.getLocalSocketAddress(), 200);
                        fillers.add(s);
                    } catch (IOException e) {
                        s.close();
                        break;
                    }
                }
                TestTunnel t = connect();
                assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
                TestTunnel.Recorder r = t.open("127.0.0.1", server.getLocalPort());
                assertThat(r.reset.get(10, TimeUnit.SECONDS))
                        .startsWith(ResetCode.TIMEOUT.name())
                        .contains("timed out after 1000ms");
            } finally {
                for (Socket s : fillers) {
                    s.close();
                }
            }
        }
        String metrics = onManagement().get("/q/metrics").then().extract().asString();
        assertThat(metrics).contains("splitstream_exit_dial_failures_total{reason=\"timeout\"}");
    }

    @Test
    void streamsBeyondTheLimitAreRefused() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        List<TestTunnel.Recorder> open = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            TestTunnel.Recorder r = t.open("127.0.0.1", echo.actualPort());
            r.accepted.get(10, TimeUnit.SECONDS);
            open.add(r);
        }
        TestTunnel.Recorder fifth = t.open("127.0.0.1", echo.actualPort());
        assertThat(fifth.reset.get(10, TimeUnit.SECONDS)).startsWith(ResetCode.TOO_MANY_STREAMS.name());
        // The four streams still work.
        t.write(open.get(3), "still here");
        await().atMost(10, TimeUnit.SECONDS).until(() -> open.get(3).received().equals("still here"));
    }

    @Test
    void malformedFrameAfterTheHandshakeClosesTheSessionWithProtocolError() throws Exception {
        assumeSessionImplemented();
        TestTunnel t = connect();
        assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        t.sendRaw(ByteBuffer.wrap(new byte[25]));
        // On an encrypted leg anything the peer did not seal fails authentication.
        assertThat(t.sessionClosed.get(10, TimeUnit.SECONDS)).isEqualTo(CloseCode.AUTH_FAILED);
        assertThat(t.wsClosed.get(10, TimeUnit.SECONDS)).isEqualTo((short) 1008);
    }

    @Test
    void resumedSessionKeepsItsStreams() throws Exception {
        assumeSessionImplemented();
        TestTunnel first = connect();
        assertThat(first.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        TestTunnel.Recorder r = first.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        first.write(r, "before;");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("before;"));
        Session session = first.session();

        first.dropConnection();
        first.wsClosed.get(10, TimeUnit.SECONDS);
        // Written while no connection is attached: buffered by the client session, resent after the resume.
        first.write(r, "during;");

        TestTunnel second = connect();
        Frame end = second.resume(first);
        assertThat(end).isInstanceOf(Frame.Welcome.class);
        await().atMost(5, TimeUnit.SECONDS)
                .until(() -> logs.stream().anyMatch(l -> l.contains("session " + session.idHex() + " resumed")));
        first.write(r, "after");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("before;during;after"));
    }

    @Test
    void splitPathLegsCarryOneDirectionEachAndRejoinIndependently() throws Exception {
        assumeSessionImplemented();
        TestTunnel up = connect();
        assertThat(up.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        String id = up.session().idHex();
        TestTunnel down = connect();
        assertThat(down.join(up, Frame.Intent.JOIN_DOWNSTREAM)).isInstanceOf(Frame.Welcome.class);
        await().atMost(5, TimeUnit.SECONDS)
                .until(() -> logs.stream().anyMatch(l -> l.contains("session " + id + " joined downstream leg")));

        TestTunnel.Recorder r = up.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        up.write(r, "split;");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("split;"));
        int upFrames = up.framesIn.get();
        assertThat(down.framesIn.get()).isGreaterThan(1);

        // The downstream leg drops and a new one joins: the stream carries on.
        down.close();
        down.wsClosed.get(10, TimeUnit.SECONDS);
        up.write(r, "during;");
        TestTunnel down2 = connect();
        assertThat(down2.join(up, Frame.Intent.JOIN_DOWNSTREAM)).isInstanceOf(Frame.Welcome.class);
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("split;during;"));

        // A new upstream leg replaces the first connection, which the exit then closes.
        TestTunnel up2 = connect();
        assertThat(up2.join(up, Frame.Intent.JOIN_UPSTREAM)).isInstanceOf(Frame.Welcome.class);
        up.wsClosed.get(10, TimeUnit.SECONDS);
        up.write(r, "after");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("split;during;after"));
        // Only the handshake frames went back on the upstream-only connections.
        assertThat(up.framesIn.get()).isEqualTo(upFrames);
        assertThat(up2.framesIn.get()).isEqualTo(2);
    }

    @Test
    void splitCapabilityKeepsEverySessionFrameOffTheFirstLeg() throws Exception {
        assumeSessionImplemented();
        TestTunnel up = connect();
        Frame welcome = up.handshake(TOKEN_ID, SECRET, Capabilities.SPLIT);
        assertThat(welcome).isInstanceOf(Frame.Welcome.class);
        assertThat(up.established.capabilities() & Capabilities.SPLIT).isEqualTo(Capabilities.SPLIT);
        String id = up.session().idHex();
        await().atMost(5, TimeUnit.SECONDS)
                .until(() -> logs.stream().anyMatch(l -> l.contains("session " + id + " waits up to")));
        // The stream is opened before any downstream leg exists: its ACCEPT and data wait in the resend buffer.
        TestTunnel.Recorder r = up.open("127.0.0.1", echo.actualPort());
        up.write(r, "early;");
        TestTunnel down = connect();
        assertThat(down.join(up, Frame.Intent.JOIN_DOWNSTREAM)).isInstanceOf(Frame.Welcome.class);
        r.accepted.get(10, TimeUnit.SECONDS);
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("early;"));
        // CHALLENGE and WELCOME only: no PING, ACK or data ever went back on the SPLIT leg.
        assertThat(up.framesIn.get()).isEqualTo(2);
    }

    @Test
    void resumeOfAnUnknownSessionIsRefused() throws Exception {
        assumeSessionImplemented();
        TestTunnel first = connect();
        assertThat(first.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        first.call(() -> {
            first.session().close(CloseCode.NORMAL, "bye");
            return null;
        });
        first.wsClosed.get(10, TimeUnit.SECONDS);
        await().atMost(5, TimeUnit.SECONDS).until(() -> logs.stream()
                .anyMatch(l -> l.contains("session " + first.session().idHex() + " closed")));
        TestTunnel second = connect();
        Frame end = second.resume(first);
        assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isIn(CloseCode.UNKNOWN_SESSION, CloseCode.AUTH_FAILED));
    }

    @Test
    void entryFinReachesTheTargetWhichCanStillAnswer() throws Exception {
        assumeSessionImplemented();
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            server.setSoTimeout(10_000);
            CompletableFuture<Void> target = CompletableFuture.runAsync(() -> {
                try (Socket s = server.accept()) {
                    s.setSoTimeout(10_000);
                    byte[] all = s.getInputStream().readAllBytes();
                    s.getOutputStream().write(("got " + all.length).getBytes(StandardCharsets.UTF_8));
                    s.shutdownOutput();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            int streamsBefore = metrics.streams();
            TestTunnel t = connect();
            assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
            TestTunnel.Recorder r = t.open("127.0.0.1", server.getLocalPort());
            r.accepted.get(10, TimeUnit.SECONDS);
            assertThat(metrics.streams()).isEqualTo(streamsBefore + 1);
            t.write(r, "12345");
            t.call(() -> {
                r.stream.finish();
                return null;
            });
            r.fin.get(10, TimeUnit.SECONDS);
            assertThat(r.received()).isEqualTo("got 5");
            target.get(10, TimeUnit.SECONDS);
            // Both directions finished: the exit closed the target socket and forgot the stream.
            await().atMost(5, TimeUnit.SECONDS).until(() -> metrics.streams() == streamsBefore);
        }
    }

    @Test
    void targetFinReachesTheEntryWhichCanStillSend() throws Exception {
        assumeSessionImplemented();
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            server.setSoTimeout(10_000);
            CompletableFuture<String> target = CompletableFuture.supplyAsync(() -> {
                try (Socket s = server.accept()) {
                    s.setSoTimeout(10_000);
                    s.getOutputStream().write("bye".getBytes(StandardCharsets.UTF_8));
                    s.shutdownOutput();
                    return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            int streamsBefore = metrics.streams();
            TestTunnel t = connect();
            assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
            TestTunnel.Recorder r = t.open("127.0.0.1", server.getLocalPort());
            r.accepted.get(10, TimeUnit.SECONDS);
            r.fin.get(10, TimeUnit.SECONDS);
            assertThat(r.received()).isEqualTo("bye");
            t.write(r, "still sending");
            t.call(() -> {
                r.stream.finish();
                return null;
            });
            assertThat(target.get(10, TimeUnit.SECONDS)).isEqualTo("still sending");
            await().atMost(5, TimeUnit.SECONDS).until(() -> metrics.streams() == streamsBefore);
        }
    }

    @Test
    void targetThatSendsMuchAndClosesAtOnceLosesNoBytes() throws Exception {
        assumeSessionImplemented();
        int size = 3 * 1024 * 1024;
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            server.setSoTimeout(10_000);
            CompletableFuture<Void> target = CompletableFuture.runAsync(() -> {
                try (Socket s = server.accept()) {
                    // Far more than one stream window: the exit stops reading while the FIN is already queued.
                    s.getOutputStream().write(new byte[size]);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            TestTunnel t = connect();
            assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
            TestTunnel.Recorder r = t.open("127.0.0.1", server.getLocalPort());
            r.fin.get(20, TimeUnit.SECONDS);
            assertThat(r.receivedLength()).isEqualTo(size);
            target.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void echoTargetClosingAfterOurFinReturnsEveryByte() throws Exception {
        assumeSessionImplemented();
        // A blocking echo target that closes as soon as it reads our FIN; the exit must deliver what it read before
        // that close. (The shared Vert.x echo cannot serve here: closing a Vert.x socket drops writes still queued in
        // it, so it would lose bytes itself whenever the exit holds its reads back for want of credit.)
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            server.setSoTimeout(10_000);
            CompletableFuture<Void> target = CompletableFuture.runAsync(() -> {
                try (Socket s = server.accept()) {
                    s.setSoTimeout(30_000);
                    s.getInputStream().transferTo(s.getOutputStream());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            TestTunnel t = connect();
            assertThat(t.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
            TestTunnel.Recorder r = t.open("127.0.0.1", server.getLocalPort());
            r.accepted.get(10, TimeUnit.SECONDS);
            String chunk = "y".repeat(64 * 1024);
            for (int i = 0; i < 160; i++) {
                t.write(r, chunk);
            }
            t.call(() -> {
                r.stream.finish();
                return null;
            });
            r.fin.get(30, TimeUnit.SECONDS);
            assertThat(r.receivedLength()).isEqualTo(160 * 64 * 1024);
            target.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void webSocketLimitsFollowMaxFrame() {
        var config = org.eclipse.microprofile.config.ConfigProvider.getConfig();
        int expected = 16 * 1024 + FrameCodec.HEADER_LENGTH + FrameProtection.OVERHEAD + 4096;
        assertThat(config.getValue("quarkus.websockets-next.server.max-message-size", Integer.class))
                .isEqualTo(expected);
        assertThat(config.getValue("quarkus.websockets-next.server.max-frame-size", Integer.class))
                .isEqualTo(expected);
    }

    @Test
    void oversizedFrameClosesOnlyThatSession() throws Exception {
        assumeSessionImplemented();
        TestTunnel good = connect();
        assertThat(good.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);
        TestTunnel bad = connect();
        assertThat(bad.handshake(TOKEN_ID, SECRET)).isInstanceOf(Frame.Welcome.class);

        // 20 KiB payload: over the node's 16K max-frame, within the client's own limits.
        Frame.Data huge = new Frame.Data(1, 1, ByteBuffer.allocate(20 * 1024), false);
        bad.sendRaw(bad.codec().encode(huge));
        // The codec reports an over-long frame as LIMIT_EXCEEDED (a size limit); anything else malformed as
        // PROTOCOL_ERROR. Either way the session is closed with that code.
        assertThat(bad.sessionClosed.get(10, TimeUnit.SECONDS)).isEqualTo(CloseCode.LIMIT_EXCEEDED);
        bad.wsClosed.get(10, TimeUnit.SECONDS);

        TestTunnel.Recorder r = good.open("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        good.write(r, "unaffected");
        await().atMost(10, TimeUnit.SECONDS).until(() -> r.received().equals("unaffected"));
    }

    private io.restassured.specification.RequestSpecification onManagement() {
        return given().baseUri("http://" + management.getHost()).port(management.getPort());
    }
}
