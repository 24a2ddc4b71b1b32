package dev.splitstream.exit.transport.ws;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.ResetCode;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import jakarta.inject.Inject;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Several tenants from a tokens file: per-token allow-lists and limits, reload, max sessions, idle timeout. */
@QuarkusTest
@TestProfile(TokensFileProfile.class)
class ExitTokensFileTest {
    @Inject
    Vertx vertx;

    @TestHTTPResource("/")
    URL base;

    private final List<TestTunnel> tunnels = new ArrayList<>();
    private NetServer echo;

    private TestTunnel connect() throws Exception {
        TestTunnel t = TestTunnel.connect(vertx, base.getPort());
        tunnels.add(t);
        return t;
    }

    private int echoPort() throws Exception {
        echo = vertx.createNetServer(new NetServerOptions().setHost("127.0.0.1").setPort(0))
                .connectHandler(socket -> socket.handler(socket::write))
                .listen()
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
        return echo.actualPort();
    }

    @AfterEach
    void close() {
        tunnels.forEach(TestTunnel::close);
        if (echo != null) {
            echo.close();
        }
    }

    @Test
    void eachTokenHasItsOwnAllowListAndLimits() throws Exception {
        int port = echoPort();
        TestTunnel alice = connect();
        assertThat(alice.handshake("alice", "alice-secret-0123456789")).isInstanceOf(Frame.Welcome.class);
        TestTunnel.Recorder first = alice.open("127.0.0.1", port);
        first.accepted.get(10, TimeUnit.SECONDS);
        TestTunnel.Recorder second = alice.open("127.0.0.1", port);
        assertThat(second.reset.get(10, TimeUnit.SECONDS)).startsWith(ResetCode.TOO_MANY_STREAMS.name());

        TestTunnel bob = connect();
        assertThat(bob.handshake("bob", "bob-secret-0123456789xx")).isInstanceOf(Frame.Welcome.class);
        TestTunnel.Recorder refused = bob.open("127.0.0.1", port);
        assertThat(refused.reset.get(10, TimeUnit.SECONDS))
                .isEqualTo("NOT_ALLOWED target 127.0.0.1:" + port + " is not allowed for token bob");

        // Two sessions are held: a third is refused.
        TestTunnel third = connect();
        Frame end = third.handshake("alice", "alice-secret-0123456789");
        assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isEqualTo(CloseCode.LIMIT_EXCEEDED));

        // Neither client sends anything now: both sessions end after the 2s idle timeout.
        assertThat(alice.sessionClosed.get(10, TimeUnit.SECONDS)).isEqualTo(CloseCode.TIMEOUT);
        assertThat(bob.sessionClosed.get(10, TimeUnit.SECONDS)).isEqualTo(CloseCode.TIMEOUT);
    }

    @Test
    void detachedSessionIsClosedAfterTheResumeTimeout() throws Exception {
        TestTunnel alice = connect();
        assertThat(alice.handshake("alice", "alice-secret-0123456789")).isInstanceOf(Frame.Welcome.class);
        alice.dropConnection();
        alice.wsClosed.get(10, TimeUnit.SECONDS);
        // Nothing to poll for on the client side: just let more than the 1s resume timeout pass.
        await().pollDelay(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() -> true);
        TestTunnel late = connect();
        assertThat(late.resume(alice)).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                .isEqualTo(CloseCode.UNKNOWN_SESSION));
    }

    @Test
    void tokensFileIsReloadedWithoutDroppingSessions() throws Exception {
        TestTunnel alice = connect();
        assertThat(alice.handshake("alice", "alice-secret-0123456789")).isInstanceOf(Frame.Welcome.class);

        Files.writeString(
                TokensFileProfile.FILE,
                TokensFileProfile.INITIAL + "  - {id: carol, secret: carol-secret-0123456789}\n");
        Files.setLastModifiedTime(
                TokensFileProfile.FILE, FileTime.from(Instant.now().plusSeconds(5)));

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            TestTunnel carol = connect();
            assertThat(carol.handshake("carol", "carol-secret-0123456789")).isInstanceOf(Frame.Welcome.class);
            carol.close();
        });
        assertThat(alice.sessionClosed).isNotDone();
        Files.writeString(TokensFileProfile.FILE, TokensFileProfile.INITIAL);
        Files.setLastModifiedTime(
                TokensFileProfile.FILE, FileTime.from(Instant.now().plusSeconds(10)));
    }
}
