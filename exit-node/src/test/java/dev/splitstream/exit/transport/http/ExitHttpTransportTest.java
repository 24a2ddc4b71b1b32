package dev.splitstream.exit.transport.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.exit.transport.ws.TestTunnel.Recorder;
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.Secret;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import jakarta.inject.Inject;
import java.net.URL;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The plain-HTTP transport against a real HTTP client running the library's client handshake and session (test
 * profile: token "test", loopback targets, 16K frames).
 */
@QuarkusTest
class ExitHttpTransportTest {
    static final String TOKEN_ID = "test";
    static final String SECRET = "test-secret-0123456789-DO-NOT-LOG";
    static final int TWO_MB = 2 * 1024 * 1024;

    @Inject
    Vertx vertx;

    @Inject
    MeterRegistry registry;

    @Inject
    HttpTransport transport;

    @TestHTTPResource("/")
    URL base;

    private static NetServer echo;
    private final List<HttpTestTunnel> tunnels = new ArrayList<>();

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

    @AfterEach
    void closeTunnels() {
        tunnels.forEach(HttpTestTunnel::close);
    }

    private HttpTestTunnel tunnel() {
        HttpTestTunnel t = new HttpTestTunnel(vertx, base.getPort());
        tunnels.add(t);
        return t;
    }

    private HttpTestTunnel opened(int capabilities) throws Exception {
        HttpTestTunnel t = tunnel();
        HttpTestTunnel.Answer a = t.open(TOKEN_ID, SECRET, capabilities);
        assertThat(a.status()).isEqualTo(200);
        assertThat(a.headers().get(HttpTransport.LEG_HEADER)).matches("[0-9a-f]{32}");
        assertThat(a.headers().get(HttpTransport.SESSION_HEADER))
                .isEqualTo(t.session().idHex());
        return t;
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    private void echoes(HttpTestTunnel t, int size, Runnable midway) throws Exception {
        Recorder r = t.openStream("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        byte[] data = random(size);
        t.write(r, data);
        if (midway != null) {
            await().atMost(20, TimeUnit.SECONDS).until(() -> r.receivedLength() > size / 4);
            midway.run();
        }
        await().atMost(30, TimeUnit.SECONDS).until(() -> r.receivedLength() >= size);
        assertThat(r.receivedBytes()).isEqualTo(data);
    }

    private double count(String name, String tag, String value) {
        Counter c = registry.find(name).tag(tag, value).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void streamModeEchoesTwoMegabytesByteExact() throws Exception {
        double downRequests = count("splitstream.exit.http.requests", "kind", "down");
        HttpTestTunnel t = opened(0);
        t.startDown("stream");
        echoes(t, TWO_MB, null);
        // Test profile: stream-max-bytes 256K, so the 2 MB came over several responses.
        assertThat(t.gets.get()).isGreaterThan(4);
        assertThat(count("splitstream.exit.http.requests", "kind", "down")).isGreaterThan(downRequests);
        assertThat(count("splitstream.exit.http.bytes", "direction", "down")).isGreaterThan(TWO_MB);
        assertThat(count("splitstream.exit.http.bytes", "direction", "up")).isGreaterThan(TWO_MB);
    }

    @Test
    void pollModeEchoesTwoMegabytesByteExact() throws Exception {
        HttpTestTunnel t = opened(Capabilities.DEFLATE);
        t.startDown("poll");
        echoes(t, TWO_MB, null);
        // Test profile: poll-max-bytes 64K; what did not fit an answer was resent on the next poll.
        assertThat(t.gets.get()).isGreaterThan(TWO_MB / (64 * 1024));
    }

    @Test
    void cutDownstreamIsResumedWithItsLastSequenceWithoutLoss() throws Exception {
        HttpTestTunnel t = opened(0);
        t.startDown("stream");
        echoes(t, TWO_MB, t::cutDown);
        assertThat(t.gets.get()).isGreaterThanOrEqualTo(2);
    }

    @Test
    void streamResponseCarriesTheAntiBufferingHeadersAndAPingFirst() throws Exception {
        HttpTestTunnel t = opened(0);
        String leg = t.downLeg;
        // A poll with nothing to say would wait; a stream answers at once with its headers and a PING.
        io.vertx.core.http.HttpClient c = vertx.createHttpClient();
        try {
            java.util.concurrent.CompletableFuture<Buffer> first = new java.util.concurrent.CompletableFuture<>();
            var resp = c.request(
                            HttpMethod.GET,
                            base.getPort(),
                            "127.0.0.1",
                            HttpTransport.BASE + "/down?leg=" + leg + "&last=0&mode=stream")
                    .compose(req -> req.send())
                    // The handler must be in place before the event loop delivers the first chunk.
                    .onSuccess(r -> r.handler(first::complete))
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            assertThat(resp.statusCode()).isEqualTo(200);
            assertThat(resp.getHeader("Content-Type")).isEqualTo("text/event-stream");
            assertThat(resp.getHeader("Cache-Control")).isEqualTo("no-store, no-transform");
            assertThat(resp.getHeader("X-Accel-Buffering")).isEqualTo("no");
            assertThat(resp.getHeader("Transfer-Encoding")).isEqualTo("chunked");
            Buffer b = first.get(3, TimeUnit.SECONDS);
            // Sealed with the leg's keys: read with a codec of the same keys that has seen nothing yet.
            Frame f = t.freshCodec().decodeNext(b.getByteBuf().nioBuffer());
            assertThat(f).isInstanceOf(Frame.Ping.class);
        } finally {
            c.close();
        }
    }

    @Test
    void unknownLegIs404AndOversizedBatchIs413() throws Exception {
        HttpTestTunnel t = opened(0);
        MultiMap bad = MultiMap.caseInsensitiveMultiMap().add(HttpTransport.LEG_HEADER, "00".repeat(16));
        assertThat(t.post("/up", bad, Buffer.buffer()).status()).isEqualTo(404);
        assertThat(t.request(
                                HttpMethod.GET,
                                HttpTransport.BASE + "/down?leg=" + "11".repeat(16) + "&last=0",
                                null,
                                null)
                        .status())
                .isEqualTo(404);
        MultiMap good = MultiMap.caseInsensitiveMultiMap().add(HttpTransport.LEG_HEADER, t.upLeg);
        HttpTestTunnel.Answer report = t.post("/up", good, Buffer.buffer());
        assertThat(report.status()).isEqualTo(200);
        assertThat(report.headers().get(HttpTransport.LAST_RECEIVED_HEADER)).isEqualTo("0");
        assertThat(t.post("/up", good, Buffer.buffer(new byte[1024 * 1024 + 1])).status())
                .isEqualTo(413);
        // The leg is still usable after the refused batch.
        assertThat(t.post("/up", good, Buffer.buffer()).status()).isEqualTo(200);
    }

    @Test
    void numberedBatchesThatArriveOutOfOrderAreDeliveredInOrder() throws Exception {
        HttpTestTunnel t = tunnel();
        HttpTestTunnel.Answer welcome = t.open(TOKEN_ID, SECRET, 0);
        assertThat(welcome.headers().get(HttpTransport.UP_WINDOW_HEADER)).isEqualTo("4");
        t.startDown("stream");
        Recorder r = t.openStream("127.0.0.1", echo.actualPort());
        r.accepted.get(10, TimeUnit.SECONDS);
        t.holdUp = true;
        byte[] data = random(128 * 1024);
        t.write(r, data);
        await().atMost(20, TimeUnit.SECONDS).until(() -> t.pendingUpCount() >= 2);
        List<Buffer> frames = t.takeUp();
        int half = frames.size() / 2;
        Buffer first = Buffer.buffer();
        frames.subList(0, half).forEach(first::appendBuffer);
        Buffer second = Buffer.buffer();
        frames.subList(half, frames.size()).forEach(second::appendBuffer);

        // Batch 2 arrives first and waits for batch 1; together they deliver every byte, in order.
        var late = t.postAsync("/up", batch(t, HttpTransport.BATCH_HEADER, 2), second);
        await().atMost(20, TimeUnit.SECONDS).until(() -> transport.heldBatches() == 1);
        assertThat(late).isNotDone();
        assertThat(t.post("/up", batch(t, HttpTransport.BATCH_HEADER, 1), first).status())
                .isEqualTo(200);
        assertThat(late.get(20, TimeUnit.SECONDS).status()).isEqualTo(200);
        t.holdUp = false;
        await().atMost(30, TimeUnit.SECONDS).until(() -> r.receivedLength() >= data.length);
        assertThat(r.receivedBytes()).isEqualTo(data);

        // A number that has passed, or one too far ahead, is refused without being opened.
        assertThat(t.post("/up", batch(t, HttpTransport.BATCH_HEADER, 1), Buffer.buffer())
                        .status())
                .isEqualTo(409);
        assertThat(t.post("/up", batch(t, HttpTransport.BATCH_HEADER, 7), Buffer.buffer())
                        .status())
                .isEqualTo(400);
        // Batch 4 waits for a batch 3 that never comes; the entry's reset answers it and restarts the numbering.
        var stranded = t.postAsync("/up", batch(t, HttpTransport.BATCH_HEADER, 4), Buffer.buffer());
        await().atMost(20, TimeUnit.SECONDS).until(() -> transport.heldBatches() == 1);
        HttpTestTunnel.Answer reset = t.post("/up", batch(t, HttpTransport.BATCH_RESET_HEADER, 10), Buffer.buffer());
        assertThat(reset.status()).isEqualTo(200);
        assertThat(reset.headers().get(HttpTransport.LAST_RECEIVED_HEADER)).isNotBlank();
        assertThat(stranded.get(20, TimeUnit.SECONDS).status()).isEqualTo(409);
        assertThat(transport.heldBatches()).isZero();
        assertThat(t.post("/up", batch(t, HttpTransport.BATCH_HEADER, 10), Buffer.buffer())
                        .status())
                .isEqualTo(200);
        assertThat(t.post("/up", batch(t, HttpTransport.BATCH_HEADER, 0), Buffer.buffer())
                        .status())
                .isEqualTo(400);
    }

    private static MultiMap batch(HttpTestTunnel t, String header, long n) {
        return MultiMap.caseInsensitiveMultiMap()
                .add(HttpTransport.LEG_HEADER, t.upLeg)
                .add(header, Long.toString(n));
    }

    @Test
    void splitHttpSendsDownstreamFramesOnlyOnTheJoinedLeg() throws Exception {
        HttpTestTunnel t = opened(Capabilities.SPLIT);
        String upLeg = t.upLeg;
        // The SPLIT leg never carries the session's frames.
        assertThat(t.request(
                                HttpMethod.GET,
                                HttpTransport.BASE + "/down?leg=" + upLeg + "&last=0&mode=poll",
                                null,
                                null)
                        .status())
                .isEqualTo(409);
        HttpTestTunnel.Answer joined =
                t.join(Frame.Intent.JOIN_DOWNSTREAM, t.session().sessionKey());
        assertThat(joined.status()).isEqualTo(200);
        String downLeg = joined.headers().get(HttpTransport.LEG_HEADER);
        assertThat(downLeg).isNotEqualTo(upLeg);
        t.downLeg = downLeg;
        t.startDown("stream");
        echoes(t, 300_000, null);
        assertThat(t.request(
                                HttpMethod.GET,
                                HttpTransport.BASE + "/down?leg=" + upLeg + "&last=0&mode=poll",
                                null,
                                null)
                        .status())
                .isEqualTo(409);
        // Frames posted on the downstream-only leg break the contract: that leg is closed, the session lives on.
        MultiMap down = MultiMap.caseInsensitiveMultiMap().add(HttpTransport.LEG_HEADER, downLeg);
        assertThat(t.post("/up", down, t.encodeOn(downLeg, new Frame.Ping(1))).status())
                .isEqualTo(409);
        assertThat(t.post("/up", down, Buffer.buffer()).status()).isEqualTo(404);
        assertThat(t.session().isClosed()).isFalse();
    }

    @Test
    void joinWithAStolenSessionIdAndNoKeyIsRefusedAndCounted() throws Exception {
        HttpTestTunnel t = opened(Capabilities.SPLIT);
        double before = count("splitstream.exit.handshake.failures", "reason", "join_without_proof");
        HttpTestTunnel.Answer a = t.join(Frame.Intent.JOIN_DOWNSTREAM, Secret.ofText("a guess, not the session key"));
        assertThat(a.status()).isEqualTo(403);
        Frame f = new FrameCodec(Limits.defaults())
                .decodeMessage(a.body().getByteBuf().nioBuffer());
        assertThat(f).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isEqualTo(CloseCode.AUTH_FAILED));
        assertThat(count("splitstream.exit.handshake.failures", "reason", "join_without_proof"))
                .isEqualTo(before + 1);
        // A wrong token secret on a NEW handshake: 403 as well.
        HttpTestTunnel other = tunnel();
        assertThat(other.open(TOKEN_ID, "not-the-secret-0123456789", 0).status())
                .isEqualTo(403);
    }

    @Test
    void pollWithNothingToSayIsAnsweredEmptyAfterThePollWait() throws Exception {
        HttpTestTunnel t = opened(0);
        t.startDown("poll");
        // Some traffic first: afterwards every attach re-acknowledges, which alone must not answer a poll.
        echoes(t, 10_000, null);
        int before = t.gets.get();
        // Test profile: poll-wait 1s. An idle session's polls wait that long each.
        await().pollDelay(3, TimeUnit.SECONDS).atMost(5, TimeUnit.SECONDS).until(() -> true);
        assertThat(t.gets.get() - before).isBetween(2, 6);
        assertThat(t.downStatus.get()).isEqualTo(200);
        assertThat(t.sessionClosed).isNotDone();
    }

    @Test
    void newerGetEndsTheOlderOne() throws Exception {
        HttpTestTunnel t = opened(0);
        io.vertx.core.http.HttpClient c = vertx.createHttpClient();
        try {
            java.util.concurrent.CompletableFuture<Void> firstEnded = new java.util.concurrent.CompletableFuture<>();
            String uri = HttpTransport.BASE + "/down?leg=" + t.downLeg + "&last=0&mode=stream";
            c.request(HttpMethod.GET, base.getPort(), "127.0.0.1", uri)
                    .compose(req -> req.send())
                    .onSuccess(r -> r.endHandler(v -> firstEnded.complete(null)))
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            assertThat(firstEnded).isNotDone();
            c.request(HttpMethod.GET, base.getPort(), "127.0.0.1", uri)
                    .compose(req -> req.send())
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            firstEnded.get(5, TimeUnit.SECONDS);
        } finally {
            c.close();
        }
    }

    @Test
    void legWithoutRequestsIsDetachedAfterTheLegTimeout() throws Exception {
        HttpTestTunnel t = opened(0);
        MultiMap leg = MultiMap.caseInsensitiveMultiMap().add(HttpTransport.LEG_HEADER, t.upLeg);
        assertThat(t.post("/up", leg, Buffer.buffer()).status()).isEqualTo(200);
        // Test profile: leg-timeout 3s. Probing the leg would keep it alive, so watch the transport instead.
        await().atMost(10, TimeUnit.SECONDS).until(() -> !transport.hasLeg(t.upLeg));
        assertThat(t.post("/up", leg, Buffer.buffer()).status()).isEqualTo(404);
        // The session itself stays for a RESUME (resume-timeout).
        HttpTestTunnel.Answer resumed = t.join(Frame.Intent.RESUME, t.session().sessionKey());
        assertThat(resumed.status()).isEqualTo(200);
    }
}
