package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketConnectOptions;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
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
    private int port;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        HttpServer server = vertx.createHttpServer()
                .webSocketHandler(ws -> ws.binaryMessageHandler(m -> {
                    received.add(m.getInt(0));
                    sizes.add(m.length());
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
