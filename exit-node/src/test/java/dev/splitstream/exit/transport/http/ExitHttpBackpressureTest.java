package dev.splitstream.exit.transport.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.exit.transport.ws.TestTunnel.Recorder;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.vertx.core.Vertx;
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

/** Backpressure of the HTTP downstream: a reader that stops makes the exit queue (bounded), end and resend. */
@QuarkusTest
@TestProfile(SmallSendBuffer.class)
class ExitHttpBackpressureTest {
    static final String TOKEN_ID = ExitHttpTransportTest.TOKEN_ID;
    static final String SECRET = ExitHttpTransportTest.SECRET;

    @Inject
    Vertx vertx;

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

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    @Test
    void stalledReaderBacksUpIntoTheExitAndLosesNothing() throws Exception {
        HttpTestTunnel t = new HttpTestTunnel(vertx, base.getPort(), 4096);
        tunnels.add(t);
        assertThat(t.open(TOKEN_ID, SECRET, 0).status()).isEqualTo(200);
        t.startDown("stream");
        List<Recorder> streams = new ArrayList<>();
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Recorder r = t.openStream("127.0.0.1", echo.actualPort());
            r.accepted.get(10, TimeUnit.SECONDS);
            byte[] data = random(700_000 + i);
            streams.add(r);
            sent.add(data);
        }
        for (int i = 0; i < 3; i++) {
            t.write(streams.get(i), sent.get(i));
        }
        // The reader stops while three windows' worth of echo is under way: the exit's write queue fills, its bounded
        // queue overflows, the response ends, and the next GET gets the rest resent.
        t.stallDown(1_000);
        for (int i = 0; i < 3; i++) {
            Recorder r = streams.get(i);
            int size = sent.get(i).length;
            await().atMost(30, TimeUnit.SECONDS).until(() -> r.receivedLength() >= size);
            assertThat(r.receivedBytes()).isEqualTo(sent.get(i));
        }
    }
}
