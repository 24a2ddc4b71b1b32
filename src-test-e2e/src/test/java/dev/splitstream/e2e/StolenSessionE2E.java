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
import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.Secret;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Someone who saw a session id (it travels in the clear in X-Splitstream-Session, for ingress affinity) tries to
 * attach a downstream leg to that session without its key, over WebSocket and over plain HTTP: refused, counted,
 * and the real session carries on.
 */
@ExtendWith(NodeLogs.class)
class StolenSessionE2E {
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void downstreamLegWithAStolenSessionIdIsRefusedAndCounted() throws Exception {
        String token = Tunnel.newToken();
        int forward = Ports.free();
        try (Closer closer = new Closer()) {
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            String exitAddress = "127.0.0.1:" + exit.httpPort();
            Node entry = closer.add(TransportFixtures.transport(
                                    NodeSpec.entry().token(token), "websocket-split", exitAddress, exitAddress)
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            String sessionId =
                    TransportFixtures.sessionId(TransportFixtures.awaitEstablished(entry, "websocket-split"));
            Transfers.echo(forward, 256 * 1024, 111);
            double failuresBefore = failures(exit);

            Protocol protocol = new Protocol();
            String wsOutcome = joinOverWebSocket(protocol, exit, sessionId);
            String httpOutcome = joinOverHttp(protocol, exit, sessionId);
            figure("stolen session id, JOIN_DOWNSTREAM over WebSocket: " + wsOutcome);
            figure("stolen session id, JOIN_DOWNSTREAM over HTTP: " + httpOutcome);

            await("both refusals counted in splitstream_exit_handshake_failures_total")
                    .atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> failures(exit) >= failuresBefore + 2);
            figure("splitstream_exit_handshake_failures_total (join_without_proof + auth_failed): " + failures(exit));
            assertThat(exit.linesContaining("handshake refused")).isNotEmpty();

            // the real session did not lose its downstream leg to the intruder
            Transfers.echo(forward, 256 * 1024, 112);
            assertThat(entry.linesContaining("session resumed")).isEmpty();
        }
    }

    private static double failures(Node exit) {
        return exit.metric("splitstream_exit_handshake_failures_total", "join_without_proof")
                + exit.metric("splitstream_exit_handshake_failures_total", "auth_failed");
    }

    /** HELLO(JOIN_DOWNSTREAM, stolen id) and a PROOF made with a guessed key over the WebSocket endpoint. */
    private static String joinOverWebSocket(Protocol protocol, Node exit, String sessionId) throws Exception {
        LinkedBlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
        WebSocket.Listener listener = new WebSocket.Listener() {
            private ByteBuffer pending = ByteBuffer.allocate(0);

            @Override
            public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
                ByteBuffer joined = ByteBuffer.allocate(pending.remaining() + data.remaining());
                joined.put(pending).put(data).flip();
                pending = joined;
                if (last) {
                    inbox.add(pending);
                    pending = ByteBuffer.allocate(0);
                }
                webSocket.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
                inbox.add("close " + statusCode);
                return null;
            }

            @Override
            public void onError(WebSocket webSocket, Throwable error) {
                inbox.add("error " + error);
            }
        };
        WebSocket socket = HTTP.newWebSocketBuilder()
                .subprotocols("splitstream.v1")
                .header("X-Splitstream-Session", sessionId)
                .connectTimeout(Duration.ofSeconds(5))
                .buildAsync(URI.create(exit.wsUrl() + "/splitstream/v1/ws"), listener)
                .get(10, TimeUnit.SECONDS);
        try {
            ClientHandshake handshake = protocol.joinDownstreamWithGuessedKey(sessionId);
            socket.sendBinary(protocol.encode(protocol.hello(handshake)), true).get(5, TimeUnit.SECONDS);
            Object answer = inbox.poll(10, TimeUnit.SECONDS);
            assertThat(answer).as("the exit answers the hello").isNotNull();
            StringBuilder outcome = new StringBuilder();
            if (answer instanceof ByteBuffer message) {
                Frame frame = protocol.decodeMessage(message);
                outcome.append(frame.getClass().getSimpleName());
                if (frame.getClass().getSimpleName().equals("Challenge")) {
                    socket.sendBinary(protocol.encode(protocol.onChallenge(handshake, frame)), true)
                            .get(5, TimeUnit.SECONDS);
                    answer = inbox.poll(10, TimeUnit.SECONDS);
                    assertThat(answer).as("the exit answers the proof").isNotNull();
                    if (answer instanceof ByteBuffer close) {
                        Frame closeFrame = protocol.decodeMessage(close);
                        outcome.append(" -> ").append(closeFrame);
                        assertThat(closeFrame.getClass().getSimpleName())
                                .as("the exit refuses the proof")
                                .isEqualTo("Close");
                        answer = inbox.poll(10, TimeUnit.SECONDS);
                    }
                } else {
                    assertThat(frame.getClass().getSimpleName()).isEqualTo("Close");
                    answer = inbox.poll(10, TimeUnit.SECONDS);
                }
            }
            assertThat(String.valueOf(answer))
                    .as("the exit closes the WebSocket as a policy violation")
                    .isEqualTo("close 1008");
            return outcome.append(", WebSocket ").append(answer).toString();
        } finally {
            socket.abort();
        }
    }

    /** The same over the plain-HTTP transport's two-request handshake. */
    private static String joinOverHttp(Protocol protocol, Node exit, String sessionId) throws Exception {
        URI uri = URI.create(exit.httpUrl() + "/splitstream/v1/http/handshake");
        ClientHandshake handshake = protocol.joinDownstreamWithGuessedKey(sessionId);
        HttpResponse<byte[]> first = HTTP.send(
                HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(10))
                        .header("X-Splitstream-Session", sessionId)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(bytes(protocol.encode(protocol.hello(handshake)))))
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (first.statusCode() != 200) {
            assertThat(first.statusCode()).as("hello refused").isEqualTo(403);
            return "hello refused with HTTP " + first.statusCode();
        }
        Frame challenge = protocol.decodeNext(ByteBuffer.wrap(first.body()));
        String handshakeId = first.headers()
                .firstValue("X-Splitstream-Handshake")
                .orElseThrow(() -> new AssertionError("no X-Splitstream-Handshake header"));
        HttpResponse<byte[]> second = HTTP.send(
                HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(10))
                        .header("X-Splitstream-Session", sessionId)
                        .header("X-Splitstream-Handshake", handshakeId)
                        .POST(HttpRequest.BodyPublishers.ofByteArray(
                                bytes(protocol.encode(protocol.onChallenge(handshake, challenge)))))
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(second.statusCode()).as("proof with a guessed key refused").isEqualTo(403);
        assertThat(second.headers().firstValue("X-Splitstream-Leg"))
                .as("no leg credential")
                .isEmpty();
        Frame close = protocol.decodeNext(ByteBuffer.wrap(second.body()));
        return "challenge, then HTTP " + second.statusCode() + " " + close;
    }

    private static byte[] bytes(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return bytes;
    }

    /** The protocol library's client handshake and codec, playing an intruder who knows only the session id. */
    private static final class Protocol {
        private final FrameCodec codec = new FrameCodec(Limits.defaults());

        /** A client handshake for JOIN_DOWNSTREAM of {@code sessionId}, keyed with 32 random bytes (not the key). */
        ClientHandshake joinDownstreamWithGuessedKey(String sessionId) {
            byte[] guess = new byte[32];
            new SecureRandom().nextBytes(guess);
            return new ClientHandshake(
                    "default",
                    new Secret(guess),
                    Frame.Intent.JOIN_DOWNSTREAM,
                    HexFormat.of().parseHex(sessionId),
                    0L,
                    Capabilities.SPLIT | Capabilities.ENCRYPTED,
                    Clock.systemUTC(),
                    new SecureRandom());
        }

        Frame hello(ClientHandshake handshake) {
            return handshake.hello();
        }

        Frame onChallenge(ClientHandshake handshake, Frame challenge) throws ProtocolException {
            return handshake.onChallenge(challenge);
        }

        ByteBuffer encode(Frame frame) {
            return codec.encode(frame);
        }

        Frame decodeMessage(ByteBuffer message) throws ProtocolException {
            return codec.decodeMessage(message);
        }

        Frame decodeNext(ByteBuffer in) throws ProtocolException {
            return codec.decodeNext(in);
        }
    }
}
