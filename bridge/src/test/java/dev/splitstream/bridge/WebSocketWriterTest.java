package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.http.WebSocketConnectOptions;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Over a real WebSocket on loopback: every message arrives, whole and in the order of the calls. */
class WebSocketWriterTest {
    private Vertx vertx;
    private final List<Integer> received = new CopyOnWriteArrayList<>();
    private final List<Integer> sizes = new CopyOnWriteArrayList<>();
    private final List<Frame> frames = new CopyOnWriteArrayList<>();
    private int port;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        HttpServer server = vertx.createHttpServer()
                .webSocketHandler(ws -> ws.binaryMessageHandler(m -> {
                    received.add(m.getInt(0));
                    sizes.add(m.length());
                    try {
                        frames.add(new FrameCodec(Limits.defaults()).decodeMessage(ByteBuffer.wrap(m.getBytes())));
                    } catch (ProtocolException e) {
                        // not a frame: the raw-message test
                    }
                }));
        port = server.listen(0, "127.0.0.1")
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS)
                .actualPort();
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void messagesFromAnyThreadArriveWholeAndInTheOrderOfTheCalls() throws Exception {
        Context context = vertx.getOrCreateContext();
        WebSocket ws = vertx.createWebSocketClient()
                .connect(new WebSocketConnectOptions()
                        .setHost("127.0.0.1")
                        .setPort(port)
                        .setURI("/"))
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        WebSocketWriter writer = WebSocketWriter.of(ws);
        assertThat(writer).isNotNull();
        int n = 3000;
        // From this (foreign) thread: the writes hop to the event loop...
        for (int i = 0; i < n / 2; i++) {
            writer.write(message(i));
        }
        // ...and writes made on the loop meanwhile queue behind them.
        context.runOnContext(v -> {
            for (int i = n / 2; i < n; i++) {
                writer.write(message(i));
            }
        });
        Awaitility.await("all messages").atMost(Duration.ofSeconds(60)).until(() -> received.size() == n);
        for (int i = 0; i < n; i++) {
            assertThat(received.get(i)).isEqualTo(i);
            assertThat(sizes.get(i)).isEqualTo(size(i));
        }
        Awaitility.await("the write queue drains")
                .atMost(Duration.ofSeconds(30))
                .until(() -> !writer.writeQueueFull());
    }

    @Test
    void framesEncodedIntoPooledBuffersArriveWholeAndInOrder() throws Exception {
        Context context = vertx.getOrCreateContext();
        WebSocket ws = vertx.createWebSocketClient()
                .connect(new WebSocketConnectOptions()
                        .setHost("127.0.0.1")
                        .setPort(port)
                        .setURI("/"))
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        WebSocketWriter writer = WebSocketWriter.of(ws);
        FrameCodec codec = new FrameCodec(Limits.defaults());
        int n = 400;
        for (int i = 1; i <= n / 2; i++) {
            writer.write(frame(i), codec);
        }
        context.runOnContext(v -> {
            for (int i = n / 2 + 1; i <= n; i++) {
                writer.write(frame(i), codec);
            }
        });
        // A frame the codec refuses to encode (over the payload limit) fails the call and sends nothing.
        Frame tooLarge =
                new Frame.Data(1, n + 1, ByteBuffer.allocate(Limits.defaults().maxPayload() + 1), false);
        assertThatThrownBy(() -> writer.write(tooLarge, codec)).isInstanceOf(IllegalArgumentException.class);
        Awaitility.await("all frames").atMost(Duration.ofSeconds(60)).until(() -> frames.size() == n);
        for (int i = 1; i <= n; i++) {
            Frame.Data d = (Frame.Data) frames.get(i - 1);
            assertThat(d.seq()).isEqualTo(i);
            assertThat(d.payload().remaining()).isEqualTo(payloadSize(i));
            assertThat(d.payload().get(payloadSize(i) - 1)).isEqualTo((byte) i);
        }
    }

    @Test
    void messagesThatSpanManyReadsArriveIntactOnTheWritersSide() throws Exception {
        // The writer's connection gathers inbound messages from its reads without copying them into one buffer
        // (gatherWithoutCopies): messages of 1 byte to 300 KiB, sent back to back, must arrive whole and unchanged.
        int n = 120;
        Random random = new Random(42);
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] m = new byte[i % 10 == 0 ? 1 : 1 + random.nextInt(300 * 1024)];
            random.nextBytes(m);
            sent.add(m);
        }
        HttpServer sender = vertx.createHttpServer(new HttpServerOptions().setMaxWebSocketFrameSize(512 * 1024))
                .webSocketHandler(ws -> ws.binaryMessageHandler(go -> {
                    for (byte[] m : sent) {
                        ws.writeBinaryMessage(Buffer.buffer(m));
                    }
                }));
        int senderPort = sender.listen(0, "127.0.0.1")
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS)
                .actualPort();
        List<byte[]> got = new CopyOnWriteArrayList<>();
        WebSocket ws = vertx.createWebSocketClient(
                        new WebSocketClientOptions().setMaxFrameSize(512 * 1024).setMaxMessageSize(512 * 1024))
                .connect(new WebSocketConnectOptions()
                        .setHost("127.0.0.1")
                        .setPort(senderPort)
                        .setURI("/"))
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        ws.binaryMessageHandler(m -> got.add(m.getBytes()));
        WebSocketWriter writer = WebSocketWriter.of(ws);
        writer.write(ByteBuffer.wrap(new byte[] {1}));
        Awaitility.await("all messages").atMost(Duration.ofSeconds(60)).until(() -> got.size() >= n);
        assertThat(got).hasSize(n);
        for (int i = 0; i < n; i++) {
            assertThat(got.get(i)).as("message %d", i).isEqualTo(sent.get(i));
        }
    }

    /** Up to the server's 64 KiB message limit with the frame header. */
    private static int payloadSize(int i) {
        return 1 + size(i) % (60 * 1024);
    }

    private static Frame frame(int i) {
        ByteBuffer payload = ByteBuffer.allocate(payloadSize(i));
        payload.put(payloadSize(i) - 1, (byte) i);
        return new Frame.Data(1, i, payload, false);
    }

    /** Sizes from 4 bytes to 64 KiB, so some writes flush at once and some wait for the end of the turn. */
    private static int size(int i) {
        return 4 + (i * 7919) % (64 * 1024 - 4);
    }

    private static ByteBuffer message(int i) {
        ByteBuffer b = ByteBuffer.allocate(size(i));
        b.putInt(0, i);
        return b;
    }
}
