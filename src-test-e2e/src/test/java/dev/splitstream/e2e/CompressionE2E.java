package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.CuttingRelay;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Payload;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.io.DataOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Text through the tunnel with compression auto and off: a counting relay between entry and exit sees far fewer
 * bytes with auto, and the text arrives intact either way.
 */
@ExtendWith(NodeLogs.class)
class CompressionE2E {
    private static final int TEXT_BYTES = 8 * 1024 * 1024;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"websocket", "http"})
    void textCrossesTheWireCompressedWithAutoAndPlainWithOff(String kind) throws Exception {
        long auto = wireBytes(kind, "auto");
        long off = wireBytes(kind, "off");
        figure(String.format(
                "%s: %d MiB of text echoed: %d bytes on the wire with compression=auto, %d with off (%.0f%%)",
                kind, TEXT_BYTES / (1024 * 1024), auto, off, 100.0 * auto / off));
        assertThat(off).as("off: at least the text both ways").isGreaterThanOrEqualTo(2L * TEXT_BYTES);
        assertThat(auto).as("auto: the wire carries well under half of off").isLessThan(off / 2);
    }

    /**
     * Echoes text through a tunnel whose entry has {@code compression} (the exit agrees to what the entry offers);
     * returns the relay's byte count.
     */
    private static long wireBytes(String kind, String compression) throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            CuttingRelay counter = closer.add(new CuttingRelay(exit.httpPort()));
            Node entry = closer.add(TransportFixtures.transport(
                                    NodeSpec.entry().token(token), kind, "127.0.0.1:" + counter.port(), null)
                            .set("splitstream.compression", compression)
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, kind);
            long before = counter.relayed();
            echoText(forward);
            return counter.relayed() - before;
        }
    }

    /** Log-like text, as a tunnelled HTTP API or database dump would carry; echoed by the target, SHA-256 checked. */
    private static void echoText(int port) throws Exception {
        byte[] text = text();
        try (Socket socket = Transfers.connect(port, Duration.ofSeconds(60))) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.write('E');
            out.writeLong(text.length);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream raw = socket.getOutputStream();
                    raw.write(text);
                    raw.flush();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            InputStream in = socket.getInputStream();
            byte[] back = Payload.readExactly(in, text.length);
            writer.get(60, TimeUnit.SECONDS);
            assertThat(Payload.hex(MessageDigest.getInstance("SHA-256").digest(back)))
                    .as("the echoed text")
                    .isEqualTo(Payload.hex(MessageDigest.getInstance("SHA-256").digest(text)));
        }
    }

    private static byte[] text() {
        StringBuilder builder = new StringBuilder(TEXT_BYTES + 200);
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        String[] levels = {"INFO", "WARN", "DEBUG", "ERROR"};
        String[] paths = {"/api/orders", "/api/users/me", "/healthz", "/api/search?q=split", "/static/app.js"};
        for (int i = 0; builder.length() < TEXT_BYTES; i++) {
            builder.append("2026-11-22T01:")
                    .append(10 + i % 50)
                    .append(':')
                    .append(i % 60)
                    .append(".123Z ")
                    .append(levels[random.nextInt(levels.length)])
                    .append(" [http-worker-")
                    .append(random.nextInt(16))
                    .append("] GET ")
                    .append(paths[random.nextInt(paths.length)])
                    .append(" status=200 bytes=")
                    .append(random.nextInt(100_000))
                    .append(" duration_ms=")
                    .append(random.nextInt(500))
                    .append('\n');
        }
        return builder.substring(0, TEXT_BYTES).getBytes(StandardCharsets.US_ASCII);
    }
}
