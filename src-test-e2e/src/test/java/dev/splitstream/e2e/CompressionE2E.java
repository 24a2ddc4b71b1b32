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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Text through the tunnel with compression auto and off: a counting relay between entry and exit sees far fewer
 * bytes with auto where the path is slower than deflate, and about as many as off where the path is much faster (the
 * session's compression governor sends plain there), and the text arrives intact either way.
 */
@ExtendWith(NodeLogs.class)
class CompressionE2E {
    private static final int TEXT_BYTES = 8 * 1024 * 1024;
    /** The slow path: 4 MiB/s each way, below what the test nodes (C1 only) deflate text at (10-25 MiB/s). */
    private static final long SLOW_PATH_BYTES_PER_SECOND = 4L * 1024 * 1024;
    /** Text echoed on loopback before counting: the governor probes plain after about half a second of bulk. */
    private static final int LOOPBACK_WARM_UP_BYTES = 64 * 1024 * 1024;
    /** Text echoed on loopback and counted. */
    private static final int LOOPBACK_TEXT_BYTES = 192 * 1024 * 1024;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"websocket", "http"})
    void textCrossesASlowPathCompressedWithAutoAndPlainWithOff(String kind) throws Exception {
        long auto = wireBytes(kind, "auto", SLOW_PATH_BYTES_PER_SECOND, TEXT_BYTES, false);
        long off = wireBytes(kind, "off", SLOW_PATH_BYTES_PER_SECOND, TEXT_BYTES, false);
        figure(String.format(
                "%s, 4 MiB/s path: %d MiB of text echoed: %d bytes on the wire with compression=auto, %d with off (%.0f%%)",
                kind, TEXT_BYTES / (1024 * 1024), auto, off, 100.0 * auto / off));
        assertThat(off).as("off: at least the text both ways").isGreaterThanOrEqualTo(2L * TEXT_BYTES);
        assertThat(auto).as("auto: the wire carries well under half of off").isLessThan(off / 2);
    }

    @Test
    void textCrossesLoopbackMostlyPlainWithAutoBecauseDeflateIsTheSlowerPart() throws Exception {
        long auto = wireBytes("websocket", "auto", 0, LOOPBACK_TEXT_BYTES, true);
        figure(String.format(
                "websocket, loopback, nodes with C2: after %d MiB, %d MiB of text uploaded: %d bytes on the wire with"
                        + " compression=auto (%.0f%% of the text)",
                LOOPBACK_WARM_UP_BYTES / (1024 * 1024),
                LOOPBACK_TEXT_BYTES / (1024 * 1024),
                auto,
                100.0 * auto / LOOPBACK_TEXT_BYTES));
        // deflated all the way it would be about a fifth; deflate at level 1 moves text 4-5x slower than plain frames
        assertThat(auto).as("auto on loopback: mostly plain").isGreaterThan(3L * LOOPBACK_TEXT_BYTES / 4);
    }

    /**
     * Echoes {@code bytes} of text through a tunnel whose entry has {@code compression} (the exit agrees to what the
     * entry offers), through a relay paced at {@code pace} bytes per second each way (0: unpaced); returns the relay's
     * byte count. {@code bulk}: nodes with the JIT's C2 (as shipped), which deflate and relay several times faster.
     */
    private static long wireBytes(String kind, String compression, long pace, int bytes, boolean bulk)
            throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            NodeSpec exitSpec = NodeSpec.exit().token(token).allow("127.0.0.1:" + target.port());
            Node exit = closer.add((bulk ? exitSpec.bulkJvmFlags() : exitSpec).start())
                    .awaitReady();
            CuttingRelay counter = closer.add(new CuttingRelay(exit.httpPort()));
            counter.pace(pace);
            NodeSpec entrySpec = NodeSpec.entry().token(token);
            Node entry = closer.add(TransportFixtures.transport(
                                    bulk ? entrySpec.bulkJvmFlags() : entrySpec,
                                    kind,
                                    "127.0.0.1:" + counter.port(),
                                    null)
                            .set("splitstream.compression", compression)
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            TransportFixtures.awaitEstablished(entry, kind);
            byte[] text = text(bytes);
            if (bulk) {
                uploadText(forward, text(LOOPBACK_WARM_UP_BYTES)); // the JIT and the governor settle first
            }
            long before = counter.relayed();
            long start = System.nanoTime();
            if (bulk) {
                uploadText(forward, text); // one direction: the echo's second one shared the two cores
            } else {
                echoText(forward, text);
            }
            figure(String.format(
                    "%s, compression=%s: %d MiB of text %s in %d ms",
                    kind,
                    compression,
                    bytes >> 20,
                    bulk ? "uploaded" : "echoed",
                    (System.nanoTime() - start) / 1_000_000));
            return counter.relayed() - before;
        }
    }

    /** Sends text to the target, which answers its SHA-256. */
    private static void uploadText(int port, byte[] text) throws Exception {
        try (Socket socket = Transfers.connect(port, Duration.ofSeconds(60))) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.write('U');
            out.writeLong(text.length);
            out.write(text);
            out.flush();
            assertThat(Payload.hex(Payload.readExactly(socket.getInputStream(), 32)))
                    .as("the uploaded text's digest")
                    .isEqualTo(Payload.hex(MessageDigest.getInstance("SHA-256").digest(text)));
        }
    }

    /** Log-like text, as a tunnelled HTTP API or database dump would carry; echoed by the target, SHA-256 checked. */
    private static void echoText(int port, byte[] text) throws Exception {
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

    private static byte[] text(int bytes) {
        StringBuilder builder = new StringBuilder(bytes + 200);
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        String[] levels = {"INFO", "WARN", "DEBUG", "ERROR"};
        String[] paths = {"/api/orders", "/api/users/me", "/healthz", "/api/search?q=split", "/static/app.js"};
        for (int i = 0; builder.length() < bytes; i++) {
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
        return builder.substring(0, bytes).getBytes(StandardCharsets.US_ASCII);
    }
}
