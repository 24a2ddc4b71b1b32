package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.e2e.fixture.HttpFixture;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** What the nodes refuse, and that a refusal harms nobody else. */
@ExtendWith(NodeLogs.class)
class RefusalsE2E {
    @Test
    void wrongTokenIsRefusedAndTheExitKeepsServingAGoodEntry() throws Exception {
        String token = Tunnel.newToken();
        int goodForward = Ports.free();
        int badForward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            Node bad = closer.add(NodeSpec.entry("entry-wrong-token")
                    .token(Tunnel.newToken())
                    .server(exit.wsUrl())
                    .forward(badForward, "127.0.0.1", target.port())
                    .start());
            exit.awaitLog("handshake refused: AUTH_FAILED", Duration.ofSeconds(60));
            bad.awaitLog("AUTH_FAILED", Duration.ofSeconds(30));
            assertThat(bad.linesContaining("session established")).isEmpty();

            Node good = closer.add(NodeSpec.entry("entry-good")
                            .token(token)
                            .server(exit.wsUrl())
                            .forward(goodForward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            good.awaitLog("session established", Duration.ofSeconds(30));
            Transfers.echo(goodForward, 1024 * 1024, 3);
            assertThat(exit.linesContaining("opened token=default")).hasSize(1);

            // nothing reaches the target through the refused entry
            int acceptedBefore = target.accepted();
            try (Socket socket = Transfers.connect(badForward, Duration.ofSeconds(3))) {
                socket.getOutputStream().write('H');
                // closed, reset or left waiting for a session: any is fine, as long as nothing gets through
                socket.getInputStream().read();
            } catch (IOException refusedOrWaiting) {
                // not listening until a session exists is fine too
            }
            assertThat(target.accepted()).isEqualTo(acceptedBefore);
            assertThat(exit.metric("splitstream_exit_handshake_failures_total", "reason=\"AUTH_FAILED\""))
                    .isGreaterThanOrEqualTo(1);
            assertThat(exit.metric("splitstream_exit_sessions", "")).isEqualTo(1);
            assertThat(exit.logText()).doesNotContain(token);
            assertThat(good.logText()).doesNotContain(token);
        }
    }

    @Test
    void targetOutsideTheAllowListFailsWithNotAllowed() throws Exception {
        String curl = Programs.require("curl").toString();
        int socks = Ports.free();
        int connect = Ports.free();
        try (HttpFixture allowed = new HttpFixture();
                HttpFixture forbidden = new HttpFixture();
                Tunnel tunnel =
                        Tunnel.start(exit -> exit.allow("127.0.0.1:" + allowed.port()), entry -> entry.socks(socks)
                                .httpConnect(connect))) {
            Exec.Result ok = Exec.run(
                    Duration.ofSeconds(60),
                    curl,
                    "-sS",
                    "--max-time",
                    "30",
                    "--socks5-hostname",
                    "127.0.0.1:" + socks,
                    allowed.url());
            assertThat(ok.exitCode()).as(ok.describe("")).isZero();

            Exec.Result refused = Exec.run(
                    Duration.ofSeconds(60),
                    curl,
                    "-sS",
                    "--max-time",
                    "30",
                    "--socks5-hostname",
                    "127.0.0.1:" + socks,
                    forbidden.url());
            assertThat(refused.exitCode()).as(refused.describe("")).isNotZero();
            // SOCKS5 reply 0x02, "connection not allowed by ruleset" (curl: "Can't complete SOCKS5 connection ... (2)")
            assertThat(refused.output()).contains("(2)");

            Exec.Result viaConnect = Exec.run(
                    Duration.ofSeconds(60),
                    curl,
                    "-sS",
                    "--max-time",
                    "30",
                    "-p",
                    "-x",
                    "http://127.0.0.1:" + connect,
                    forbidden.url());
            assertThat(viaConnect.exitCode()).as(viaConnect.describe("")).isNotZero();
            assertThat(viaConnect.output()).contains("403");
            assertThat(forbidden.requests()).isZero();
            String line = tunnel.entry().awaitLog("refused: NOT_ALLOWED", Duration.ofSeconds(10));
            assertThat(line).contains("127.0.0.1:" + forbidden.port());
            assertThat(tunnel.exit().metric("splitstream_exit_dial_failures_total", "reason=\"NOT_ALLOWED\""))
                    .isGreaterThanOrEqualTo(1);
        }
    }

    @Test
    void streamsBeyondMaxStreamsAreRefusedAndOthersCarryOn() throws Exception {
        int forward = Ports.free();
        List<Socket> held = new ArrayList<>();
        try (TargetServer target = new TargetServer();
                Tunnel tunnel = Tunnel.start(
                        exit -> exit.allow("127.0.0.1:" + target.port()).maxStreams(2),
                        entry -> entry.forward(forward, "127.0.0.1", target.port()))) {
            for (int i = 0; i < 2; i++) {
                Socket socket = Transfers.connect(forward, Duration.ofSeconds(10));
                socket.getOutputStream().write('H');
                held.add(socket);
            }
            org.awaitility.Awaitility.await("two held streams at the target")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> target.openConnections() == 2);

            try (Socket third = Transfers.connect(forward, Duration.ofSeconds(15))) {
                third.getOutputStream().write('H');
                assertClosedByPeer(third.getInputStream());
            }
            tunnel.entry().awaitLog("TOO_MANY_STREAMS", Duration.ofSeconds(10));
            assertThat(target.openConnections()).isEqualTo(2);

            held.remove(0).close();
            org.awaitility.Awaitility.await("a slot freed")
                    .atMost(Duration.ofSeconds(20))
                    .until(() -> target.openConnections() == 1);
            Transfers.echo(forward, 256 * 1024, 11);
        } finally {
            for (Socket socket : held) {
                socket.close();
            }
        }
    }

    /** The entry closes (or resets) a refused connection instead of leaving it hanging. */
    private static void assertClosedByPeer(InputStream in) {
        assertThatThrownBy(() -> {
                    int read = in.read();
                    if (read < 0) {
                        throw new IOException("closed");
                    }
                })
                .isInstanceOf(IOException.class)
                .isNotInstanceOf(SocketTimeoutException.class);
    }
}
