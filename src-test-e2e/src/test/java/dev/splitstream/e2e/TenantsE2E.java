package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** One exit, a tokens file with two tenants, each reaching only its own targets. */
@ExtendWith(NodeLogs.class)
class TenantsE2E {
    @Test
    void eachTenantReachesOnlyItsOwnAllowList() throws Exception {
        String aliceSecret = Tunnel.newToken();
        String bobSecret = Tunnel.newToken();
        int aliceToA = Ports.free();
        int aliceToB = Ports.free();
        int bobToA = Ports.free();
        int bobToB = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer a = closer.add(new TargetServer());
            TargetServer b = closer.add(new TargetServer());
            Path tokens = NodeLogs.dir().resolve("tokens.yaml");
            Files.writeString(
                    tokens,
                    String.join(
                            "\n",
                            "tokens:",
                            "  - id: alice",
                            "    secret: \"" + aliceSecret + "\"",
                            "    allow: [\"127.0.0.1:" + a.port() + "\"]",
                            "  - id: bob",
                            "    secret: \"" + bobSecret + "\"",
                            "    allow: [\"127.0.0.1:" + b.port() + "\"]",
                            ""));
            Node exit = closer.add(NodeSpec.exit()
                            .set("splitstream.exit.tokens-file", tokens.toString())
                            .start())
                    .awaitReady();
            Node alice = closer.add(NodeSpec.entry("entry-alice")
                    .token(aliceSecret)
                    .set("splitstream.token-id", "alice")
                    .server(exit.wsUrl())
                    .forward(aliceToA, "127.0.0.1", a.port())
                    .forward(aliceToB, "127.0.0.1", b.port())
                    .start());
            Node bob = closer.add(NodeSpec.entry("entry-bob")
                    .token(bobSecret)
                    .set("splitstream.token-id", "bob")
                    .server(exit.wsUrl())
                    .forward(bobToA, "127.0.0.1", a.port())
                    .forward(bobToB, "127.0.0.1", b.port())
                    .start());
            alice.awaitReady();
            bob.awaitReady();
            exit.awaitLog("opened token=alice", Duration.ofSeconds(10));
            exit.awaitLog("opened token=bob", Duration.ofSeconds(10));

            Transfers.echo(aliceToA, 512 * 1024, 1);
            Transfers.echo(bobToB, 512 * 1024, 2);
            assertRefused(aliceToB);
            assertRefused(bobToA);
            alice.awaitLog("refused: NOT_ALLOWED", Duration.ofSeconds(10));
            bob.awaitLog("refused: NOT_ALLOWED", Duration.ofSeconds(10));
            assertThat(a.accepted()).isEqualTo(1);
            assertThat(b.accepted()).isEqualTo(1);
            assertThat(exit.logText()).doesNotContain(aliceSecret).doesNotContain(bobSecret);
        }
    }

    private static void assertRefused(int port) throws IOException {
        try (Socket socket = Transfers.connect(port, Duration.ofSeconds(15))) {
            socket.getOutputStream().write('H');
            int read;
            try {
                read = socket.getInputStream().read();
            } catch (java.net.SocketTimeoutException e) {
                throw new AssertionError("a refused stream was left open", e);
            } catch (IOException reset) {
                read = -1;
            }
            assertThat(read).as("a refused stream is closed").isEqualTo(-1);
        } catch (java.net.ConnectException e) {
            throw new AssertionError("the forward should accept, then close", e);
        }
    }
}
