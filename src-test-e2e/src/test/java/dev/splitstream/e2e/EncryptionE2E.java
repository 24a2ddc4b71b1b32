package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import dev.splitstream.e2e.harness.WatchingRelay;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * End-to-end frame protection on the wire. A relay between the nodes stands for a TLS-terminating proxy or CDN: it sees
 * every byte. With SPLITSTREAM_ENCRYPTION=on (the default) it never sees a known payload crossing the tunnel, and one
 * flipped bit closes the session with an authentication error; with off it does see the payload (so the check can
 * fail). Nodes whose settings differ refuse each other, each saying which side to change.
 */
@ExtendWith(NodeLogs.class)
class EncryptionE2E {
    private static final byte[] MARKER = "SPLITSTREAM-KNOWN-PLAINTEXT-7f3a9c".getBytes(StandardCharsets.US_ASCII);

    /** 256 KiB of random bytes with the marker every 4 KiB: neither compressible nor hard to spot. */
    private static byte[] markedPayload() {
        byte[] payload = new byte[256 * 1024];
        new Random(11).nextBytes(payload);
        for (int at = 0; at + MARKER.length <= payload.length; at += 4096) {
            System.arraycopy(MARKER, 0, payload, at, MARKER.length);
        }
        return payload;
    }

    /** Sends {@code payload} through the forward to the echo server and checks it comes back intact. */
    private static void echo(int forward, byte[] payload) throws Exception {
        try (Socket socket = Transfers.connect(forward, Duration.ofSeconds(30))) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.write('E');
            out.writeLong(payload.length);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    out.write(payload);
                    out.flush();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            InputStream in = socket.getInputStream();
            byte[] back = in.readNBytes(payload.length);
            writer.get();
            assertThat(back).isEqualTo(payload);
        }
    }

    private static Tunnel tunnelThroughRelay(
            TargetServer target, int forward, String encryption, WatchingRelay[] relay) {
        return Tunnel.start(
                exit -> {
                    try {
                        relay[0] = new WatchingRelay(exit.httpPort(), MARKER);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    exit.allow("127.0.0.1:" + target.port())
                            .set("splitstream.encryption", encryption)
                            .set("splitstream.compression", "off");
                },
                entry -> entry.server("ws://127.0.0.1:" + relay[0].port())
                        .forward(forward, "127.0.0.1", target.port())
                        .set("splitstream.encryption", encryption)
                        .set("splitstream.compression", "off")
                        .reconnect("100ms", "1s"));
    }

    @Test
    void withEncryptionOnTheRelaySeesNoPlaintextAndAFlippedBitClosesTheSession() throws Exception {
        int forward = Ports.free();
        WatchingRelay[] relay = new WatchingRelay[1];
        try (Closer closer = new Closer();
                TargetServer target = new TargetServer();
                Tunnel tunnel = tunnelThroughRelay(target, forward, "on", relay)) {
            closer.add(relay[0]);
            echo(forward, markedPayload());
            assertThat(relay[0].sawDownstream())
                    .as("plaintext from the exit seen by the relay")
                    .isFalse();
            assertThat(relay[0].sawUpstream())
                    .as("plaintext from the entry seen by the relay")
                    .isFalse();
            figure("encryption on: 256 KiB echo with a marker every 4 KiB, relay saw it 0 times either way");

            // An entry whose setting differs is refused, and both sides say what to change.
            try (Node off = NodeSpec.entry("entry-off")
                    .token(tunnel.token())
                    .server(tunnel.exit().wsUrl())
                    .set("splitstream.encryption", "off")
                    .start()) {
                off.awaitLog("set SPLITSTREAM_ENCRYPTION=on on the entry node", Duration.ofSeconds(30));
                assertThat(off.linesContaining("ENCRYPTION_MISMATCH")).isNotEmpty();
                tunnel.exit().awaitLog("set SPLITSTREAM_ENCRYPTION=on on the entry node", Duration.ofSeconds(10));
            }

            // One bit flipped in a frame from the exit: the entry refuses the frame and closes the session.
            long bytes = 64L * 1024 * 1024;
            CompletableFuture<Void> transfer = CompletableFuture.runAsync(() -> {
                try {
                    Transfers.uploadAndDownload(forward, bytes, 5, Duration.ofMinutes(2));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            await("the download is under way")
                    .atMost(Duration.ofSeconds(60))
                    .until(() -> tunnel.exit().metric("splitstream_exit_streams", "") >= 1 || transfer.isDone());
            relay[0].flipOneBitDownstream();
            await("one bit flipped").atMost(Duration.ofSeconds(60)).until(() -> relay[0].flipped() == 1);
            String refused = tunnel.entry().awaitLog("failed authentication", Duration.ofSeconds(30));
            figure("encryption on: one bit flipped by the relay -> entry: " + refused.strip());
            tunnel.exit().awaitLog("closed: AUTH_FAILED", Duration.ofSeconds(30));
            assertThat(tunnel.entry().linesContaining("closed: AUTH_FAILED")).isNotEmpty();
            // The damaged transfer fails (its streams were reset); a new session carries new traffic.
            await("the transfer ends").atMost(Duration.ofMinutes(2)).until(transfer::isDone);
            assertThat(transfer).isCompletedExceptionally();
            tunnel.entry().awaitLogCount("session established", 2, Duration.ofSeconds(30));
            echo(forward, markedPayload());
            assertThat(relay[0].sawDownstream() || relay[0].sawUpstream()).isFalse();
        }
    }

    @Test
    void withEncryptionOffTheRelaySeesThePlaintextAndAMismatchIsRefused() throws Exception {
        int forward = Ports.free();
        WatchingRelay[] relay = new WatchingRelay[1];
        try (Closer closer = new Closer();
                TargetServer target = new TargetServer();
                Tunnel tunnel = tunnelThroughRelay(target, forward, "off", relay)) {
            closer.add(relay[0]);
            echo(forward, markedPayload());
            // The same check as with encryption on, which would fail here: the proxy reads the traffic.
            assertThat(relay[0].sawDownstream())
                    .as("plaintext from the exit seen by the relay")
                    .isTrue();
            figure("encryption off: the relay saw the marker in clear");

            try (Node on = NodeSpec.entry("entry-on")
                    .token(tunnel.token())
                    .server(tunnel.exit().wsUrl())
                    .start()) {
                on.awaitLog("set it to on on the exit node", Duration.ofSeconds(30));
                assertThat(on.linesContaining("ENCRYPTION_MISMATCH")).isNotEmpty();
                tunnel.exit().awaitLog("set it to on on the exit node", Duration.ofSeconds(10));
            }
        }
    }
}
