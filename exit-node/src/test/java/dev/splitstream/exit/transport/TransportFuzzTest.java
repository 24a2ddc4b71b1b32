package dev.splitstream.exit.transport;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Secret;
import io.netty.buffer.Unpooled;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import jakarta.inject.Inject;
import java.net.URL;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.jboss.logmanager.ExtLogRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the exit's transports, not just the decoder: arbitrary sequences of messages (valid frames, frames with flipped
 * bits, truncated or extended, random bytes), before and after a real handshake, over real WebSocket connections and
 * real HTTP requests to a booted exit. Properties: every HTTP request gets an answer that is not a server error, every
 * WebSocket message from the exit decodes, no ERROR is logged, and a legitimate handshake works afterwards. Bounded:
 * {@code fuzz.seconds} per transport (default 3, part of the normal build); the seed is printed, and {@code fuzz.seed}
 * replays one (the request sequence; timing differs from run to run).
 */
@QuarkusTest
@io.quarkus.test.junit.TestProfile(TransportFuzzTest.Unencrypted.class)
class TransportFuzzTest {
    /**
     * Frames travel unsealed here, so random and mutated frames reach the session logic behind the codec; with
     * SPLITSTREAM_ENCRYPTION=on every one of them would stop at authentication (FrameProtectionTest covers that path).
     */
    public static class Unencrypted implements io.quarkus.test.junit.QuarkusTestProfile {
        @Override
        public java.util.Map<String, String> getConfigOverrides() {
            return java.util.Map.of("splitstream.encryption", "off");
        }
    }

    private static final String TOKEN_ID = "test";
    private static final String SECRET = "test-secret-0123456789-DO-NOT-LOG";
    private static final Set<Integer> HTTP_ANSWERS = Set.of(200, 204, 400, 403, 404, 405, 409, 413, 415, 503);

    @Inject
    Vertx vertx;

    @TestHTTPResource("/")
    URL base;

    private final long seconds = Long.getLong("fuzz.seconds", 3);
    private final long seed = Long.getLong("fuzz.seed", new SecureRandom().nextLong());
    private final FrameCodec codec = new FrameCodec(Limits.defaults().withMaxPayload(16 * 1024));
    private final List<String> errors = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.SEVERE.intValue()) {
                String msg = record instanceof ExtLogRecord ext ? ext.getFormattedMessage() : record.getMessage();
                errors.add(record.getLoggerName() + " " + msg + " " + record.getThrown());
            }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void captureErrors() {
        java.util.logging.Logger.getLogger("").addHandler(capture);
        System.out.println("transport fuzz seed " + seed + " (-Dfuzz.seed=" + seed + " replays it)");
    }

    @AfterEach
    void stopCapture() {
        java.util.logging.Logger.getLogger("").removeHandler(capture);
    }

    @Test
    void webSocketLegSurvivesArbitraryMessageSequences() throws Exception {
        Random random = new Random(seed);
        WebSocketClient client = vertx.createWebSocketClient();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        int connections = 0;
        int messages = 0;
        try {
            while (System.nanoTime() < deadline) {
                connections++;
                CompletableFuture<Void> closed = new CompletableFuture<>();
                List<Buffer> received = new CopyOnWriteArrayList<>();
                WebSocket ws = client.connect(new WebSocketConnectOptions()
                                .setHost("127.0.0.1")
                                .setPort(base.getPort())
                                .setURI("/splitstream/v1/ws")
                                .addSubProtocol("splitstream.v1"))
                        .toCompletionStage()
                        .toCompletableFuture()
                        .get(10, TimeUnit.SECONDS);
                ws.binaryMessageHandler(received::add);
                ws.closeHandler(v -> closed.complete(null));
                // The exit closes a connection that sent garbage while this client may still be writing: the
                // client's own "Connection was closed" for such a write is expected here (without a handler Vert.x
                // logs it at ERROR, which the test would count against the exit).
                ws.exceptionHandler(e -> {});
                boolean handshake = random.nextInt(3) == 0;
                if (handshake) {
                    FrameCodec session = handshakeOverWebSocket(ws, received);
                    if (session == null) {
                        ws.close();
                        continue;
                    }
                }
                int n = 1 + random.nextInt(8);
                for (int i = 0; i < n && !ws.isClosed(); i++) {
                    ws.writeBinaryMessage(Buffer.buffer(Unpooled.wrappedBuffer(message(random, handshake))));
                    messages++;
                }
                // Give the exit a moment to answer, then drop the connection as a client would.
                vertx.setTimer(20, t -> ws.close());
                closed.get(10, TimeUnit.SECONDS);
                for (Buffer b : received) {
                    assertDecodes(b);
                }
            }
        } finally {
            client.close();
        }
        System.out.printf("transport fuzz: %d WebSocket connections, %d messages%n", connections, messages);
        assertThat(errors).as("errors logged (seed %d)", seed).isEmpty();
        assertLegitimateWebSocketHandshakeWorks();
    }

    @Test
    void httpLegSurvivesArbitraryRequestSequences() throws Exception {
        Random random = new Random(seed);
        HttpClient client = vertx.createHttpClient(new HttpClientOptions()
                .setDefaultHost("127.0.0.1")
                .setDefaultPort(base.getPort())
                .setMaxPoolSize(4));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        int requests = 0;
        String leg = null;
        try {
            while (System.nanoTime() < deadline) {
                if (leg == null || random.nextInt(10) == 0) {
                    leg = httpHandshake(client);
                }
                requests++;
                MultiMap headers = MultiMap.caseInsensitiveMultiMap();
                String path;
                HttpMethod method = HttpMethod.POST;
                Buffer body = bytes(message(random, true));
                switch (random.nextInt(5)) {
                    case 0 -> {
                        path = "/handshake";
                        if (random.nextBoolean()) {
                            headers.add("X-Splitstream-Handshake", hex(random, random.nextInt(40)));
                        }
                        body = bytes(message(random, false));
                    }
                    case 1, 2 -> {
                        path = "/up";
                        headers.add("X-Splitstream-Leg", random.nextInt(4) == 0 ? hex(random, 32) : leg);
                        for (int i = random.nextInt(3); i > 0; i--) {
                            body.appendBuffer(bytes(message(random, true)));
                        }
                    }
                    case 3 -> {
                        method = HttpMethod.GET;
                        body = null;
                        String[] modes = {"poll", "stream", "nonsense", ""};
                        String[] lasts = {"0", "-1", "x", "99999999999", Long.toString(random.nextLong())};
                        path = "/down?mode=" + modes[random.nextInt(modes.length)] + "&last="
                                + lasts[random.nextInt(lasts.length)];
                        headers.add("X-Splitstream-Leg", random.nextInt(4) == 0 ? hex(random, 32) : leg);
                    }
                    default -> {
                        path = "/up";
                        body = Buffer.buffer(random(random, random.nextInt(2048)));
                        headers.add("X-Splitstream-Leg", leg);
                    }
                }
                int status;
                try {
                    status = request(client, method, "/splitstream/v1/http" + path, headers, body, random);
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new AssertionError(
                            "no answer to " + method + " " + path + " " + headers.entries() + " body "
                                    + (body == null ? 0 : body.length()) + " bytes (seed " + seed + ")",
                            e);
                }
                assertThat(HTTP_ANSWERS)
                        .as("status of %s %s (seed %d)", method, path, seed)
                        .contains(status);
            }
        } finally {
            client.close();
        }
        System.out.printf("transport fuzz: %d HTTP requests%n", requests);
        assertThat(errors).as("errors logged (seed %d)", seed).isEmpty();
        assertLegitimateHandshakeWorks();
    }

    // ------------------------------------------------------------------ message generation

    /** One message: a frame a client might send (or the exit would never accept), possibly mutated, or random bytes. */
    private ByteBuffer message(Random random, boolean afterHandshake) {
        int kind = random.nextInt(10);
        if (kind == 0) {
            return ByteBuffer.wrap(random(random, random.nextInt(64)));
        }
        byte[] bytes = toArray(codec.encode(frame(random, afterHandshake)));
        switch (random.nextInt(4)) {
            case 0 -> {
                for (int i = 1 + random.nextInt(4); i > 0; i--) {
                    bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
                }
            }
            case 1 -> bytes = java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length));
            case 2 -> {
                byte[] longer = java.util.Arrays.copyOf(bytes, bytes.length + 1 + random.nextInt(32));
                random.nextBytes(longer);
                System.arraycopy(bytes, 0, longer, 0, bytes.length);
                bytes = longer;
            }
            default -> {}
        }
        return ByteBuffer.wrap(bytes);
    }

    private Frame frame(Random random, boolean afterHandshake) {
        int stream = random.nextInt(4) == 0 ? random.nextInt() : 1 + 2 * random.nextInt(4);
        long seq = random.nextInt(3) == 0 ? random.nextLong() & Long.MAX_VALUE : random.nextInt(20);
        int pick = afterHandshake ? random.nextInt(9) : random.nextInt(3);
        return switch (pick) {
            case 0 ->
                new ClientHandshake(
                                random.nextBoolean() ? TOKEN_ID : "t" + random.nextInt(5),
                                Secret.ofText("not the secret at all"),
                                random.nextBoolean() ? Frame.Intent.NEW : Frame.Intent.RESUME,
                                random(random, 16),
                                random.nextInt(5),
                                random.nextInt(16),
                                Clock.systemUTC(),
                                new SecureRandom())
                        .hello();
            case 1 -> new Frame.Proof(random(random, 32));
            case 2 -> new Frame.Close(CloseCode.values()[random.nextInt(CloseCode.values().length)], "bye");
            case 3 ->
                new Frame.Open(
                        stream,
                        seq,
                        random.nextBoolean() ? "127.0.0.1" : "x.invalid",
                        1 + random.nextInt(65535),
                        random.nextInt(1 << 20));
            case 4 ->
                new Frame.Data(
                        stream, seq, ByteBuffer.wrap(random(random, random.nextInt(2048))), random.nextBoolean());
            case 5 -> new Frame.WindowUpdate(stream, seq, random.nextInt());
            case 6 -> new Frame.Ack(seq);
            case 7 -> new Frame.Reset(stream, seq, ResetCode.values()[random.nextInt(ResetCode.values().length)], "r");
            default -> random.nextBoolean() ? new Frame.Ping(random.nextLong()) : new Frame.Pong(random.nextLong());
        };
    }

    // ------------------------------------------------------------------ real handshakes

    /** A real NEW handshake on {@code ws}; returns the session codec, or null when the exit refused. */
    private FrameCodec handshakeOverWebSocket(WebSocket ws, List<Buffer> received) throws Exception {
        ClientHandshake hs = newSession();
        ws.writeBinaryMessage(encode(hs.hello()));
        Frame challenge = awaitFrame(received, 0);
        ws.writeBinaryMessage(encode(hs.onChallenge(challenge)));
        Frame welcome = awaitFrame(received, 1);
        return welcome instanceof Frame.Welcome ? codec : null;
    }

    private String httpHandshake(HttpClient client) throws Exception {
        ClientHandshake hs = newSession();
        Answer a = send(client, HttpMethod.POST, "/splitstream/v1/http/handshake", null, encode(hs.hello()));
        assertThat(a.status()).isEqualTo(200);
        MultiMap h = MultiMap.caseInsensitiveMultiMap().add("X-Splitstream-Handshake", a.handshakeId());
        Answer w = send(
                client,
                HttpMethod.POST,
                "/splitstream/v1/http/handshake",
                h,
                encode(hs.onChallenge(codec.decodeMessage(a.body().getByteBuf().nioBuffer()))));
        assertThat(w.status()).isEqualTo(200);
        return w.leg();
    }

    private void assertLegitimateWebSocketHandshakeWorks() throws Exception {
        WebSocketClient client = vertx.createWebSocketClient();
        try {
            List<Buffer> received = new CopyOnWriteArrayList<>();
            WebSocket ws = client.connect(new WebSocketConnectOptions()
                            .setHost("127.0.0.1")
                            .setPort(base.getPort())
                            .setURI("/splitstream/v1/ws")
                            .addSubProtocol("splitstream.v1"))
                    .toCompletionStage()
                    .toCompletableFuture()
                    .get(10, TimeUnit.SECONDS);
            ws.binaryMessageHandler(received::add);
            assertThat(handshakeOverWebSocket(ws, received)).isNotNull();
            ws.close();
        } finally {
            client.close();
        }
    }

    private void assertLegitimateHandshakeWorks() throws Exception {
        HttpClient client = vertx.createHttpClient(
                new HttpClientOptions().setDefaultHost("127.0.0.1").setDefaultPort(base.getPort()));
        try {
            assertThat(httpHandshake(client)).isNotBlank();
        } finally {
            client.close();
        }
    }

    private static ClientHandshake newSession() {
        return new ClientHandshake(
                TOKEN_ID, Secret.ofText(SECRET), Frame.Intent.NEW, null, 0, 0, Clock.systemUTC(), new SecureRandom());
    }

    private Frame awaitFrame(List<Buffer> received, int index) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (received.size() <= index) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no frame " + index + " from the exit within 10 s");
            }
            Thread.onSpinWait();
            Thread.sleep(1); // polling a client-side list, bounded by the deadline above
        }
        return codec.decodeMessage(received.get(index).getByteBuf().nioBuffer());
    }

    private void assertDecodes(Buffer b) {
        try {
            codec.decodeMessage(b.getByteBuf().nioBuffer());
        } catch (ProtocolException e) {
            throw new AssertionError("exit sent an undecodable message (seed " + seed + "): " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ HTTP plumbing

    private record Answer(int status, MultiMap headers, Buffer body) {
        String handshakeId() {
            return headers.get("X-Splitstream-Handshake");
        }

        String leg() {
            return headers.get("X-Splitstream-Leg");
        }
    }

    private int request(HttpClient client, HttpMethod method, String uri, MultiMap headers, Buffer body, Random random)
            throws Exception {
        if (method == HttpMethod.GET && uri.contains("mode=stream")) {
            // A streamed response stays open: its status is all this needs.
            // Handled in the callback that delivers the response (see send): closing the connection ends the response
            // with an HttpClosedException, which Vert.x logs at ERROR when the response has no exception handler.
            CompletableFuture<Integer> status = new CompletableFuture<>();
            client.request(new RequestOptions().setMethod(method).setURI(uri).setHeaders(headers))
                    .compose(req -> req.send().onSuccess(resp -> {
                        resp.exceptionHandler(closedByUs -> {});
                        status.complete(resp.statusCode());
                        resp.request().connection().close();
                    }))
                    .onFailure(status::completeExceptionally);
            return status.get(10, TimeUnit.SECONDS);
        }
        return send(client, method, uri, headers, body).status();
    }

    private Answer send(HttpClient client, HttpMethod method, String uri, MultiMap headers, Buffer body)
            throws Exception {
        // The body is asked for in the very callback that delivers the response, nested inside the request's compose.
        // Chained one level out (request().compose(send).compose(resp -> resp.body())) from this non-Vert.x thread, the
        // response now and then reached body() only after its end had been processed: Vert.x drops an end that finds
        // no handler (HttpClientResponseImpl.handleEnd), so body() never completed and the fuzz reported a request the
        // exit "never answered" although the exit had answered in full (client-side capture: status line, headers,
        // body, then FIN). Plain Vert.x 4.5.25 shows the same: 3 hangs in ~600-3,000 requests chained, none in
        // 10,000 nested.
        return client.request(new RequestOptions()
                        .setMethod(method)
                        .setURI(uri)
                        .setHeaders(headers == null ? MultiMap.caseInsensitiveMultiMap() : headers))
                .compose(req -> (body == null ? req.send() : req.send(body))
                        .compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), resp.headers(), b))))
                .toCompletionStage()
                .toCompletableFuture()
                .get(15, TimeUnit.SECONDS);
    }

    private Buffer encode(Frame f) {
        return Buffer.buffer(Unpooled.wrappedBuffer(codec.encode(f)));
    }

    /** A growable buffer holding a copy of {@code b}. */
    private static Buffer bytes(ByteBuffer b) {
        return Buffer.buffer(b.remaining()).appendBytes(toArray(b));
    }

    private static byte[] random(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private static String hex(Random random, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(Character.forDigit(random.nextInt(16), 16));
        }
        return sb.toString();
    }

    private static byte[] toArray(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
