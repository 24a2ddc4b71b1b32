import dev.splitstream.protocol.Capabilities;
import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.Secret;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Session set-up rate against one exit node: WORKERS loops, each opening a WebSocket, running the real handshake
 * (HELLO, CHALLENGE, PROOF, WELCOME), closing the session with CLOSE NORMAL and the connection, for SECONDS. Prints
 * {@code sessions=<n> rate=<per second> p50_ms=<..> p99_ms=<..> failures=<n>}.
 *
 * <p>java -cp protocol.jar bench/SessionSetupBench.java ws://127.0.0.1:PORT TOKEN_ID SECRET WORKERS SECONDS
 */
public final class SessionSetupBench {
    public static void main(String[] args) throws Exception {
        URI uri = URI.create(args[0] + "/splitstream/v1/ws");
        String tokenId = args[1];
        Secret secret = Secret.ofText(args[2]);
        int workers = Integer.parseInt(args[3]);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[4]));
        HttpClient client = HttpClient.newHttpClient();
        AtomicLong done = new AtomicLong();
        AtomicLong failures = new AtomicLong();
        List<Long> latencies = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> threads = new ArrayList<>();
        long started = System.nanoTime();
        for (int w = 0; w < workers; w++) {
            Thread t = new Thread(() -> {
                while (System.nanoTime() < until) {
                    long t0 = System.nanoTime();
                    try {
                        oneSession(client, uri, tokenId, secret);
                        latencies.add(System.nanoTime() - t0);
                        done.incrementAndGet();
                    } catch (Exception e) {
                        if (failures.incrementAndGet() <= 3) {
                            System.err.println("session failed: " + e);
                        }
                    }
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        long[] sorted = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        System.out.printf(
                "sessions=%d rate=%.1f p50_ms=%.2f p99_ms=%.2f failures=%d%n",
                done.get(),
                done.get() / seconds,
                percentile(sorted, 0.50) / 1e6,
                percentile(sorted, 0.99) / 1e6,
                failures.get());
        System.exit(0);
    }

    private static double percentile(long[] sorted, double p) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) (sorted.length * p))];
    }

    private static void oneSession(HttpClient client, URI uri, String tokenId, Secret secret) throws Exception {
        LinkedBlockingQueue<ByteBuffer> inbox = new LinkedBlockingQueue<>();
        CompletableFuture<Void> closed = new CompletableFuture<>();
        WebSocket ws = client.newWebSocketBuilder()
                .subprotocols("splitstream.v1")
                .connectTimeout(Duration.ofSeconds(10))
                .buildAsync(uri, new WebSocket.Listener() {
                    private ByteBuffer partial = ByteBuffer.allocate(0);

                    @Override
                    public CompletionStage<?> onBinary(WebSocket w, ByteBuffer data, boolean last) {
                        ByteBuffer joined = ByteBuffer.allocate(partial.remaining() + data.remaining());
                        joined.put(partial).put(data).flip();
                        partial = last ? ByteBuffer.allocate(0) : joined;
                        if (last) {
                            inbox.add(joined);
                        }
                        w.request(1);
                        return null;
                    }

                    @Override
                    public CompletionStage<?> onClose(WebSocket w, int status, String reason) {
                        closed.complete(null);
                        return null;
                    }

                    @Override
                    public void onError(WebSocket w, Throwable error) {
                        closed.complete(null);
                    }
                })
                .get(10, TimeUnit.SECONDS);
        try {
            FrameCodec codec = new FrameCodec(Limits.defaults());
            ClientHandshake hs = new ClientHandshake(
                    tokenId,
                    secret,
                    Frame.Intent.NEW,
                    null,
                    0,
                    Capabilities.ENCRYPTED, // as every entry node offers by default (SPLITSTREAM_ENCRYPTION=on)
                    Clock.systemUTC(),
                    new SecureRandom());
            ws.sendBinary(codec.encode(hs.hello()), true).get(10, TimeUnit.SECONDS);
            Frame challenge = codec.decodeMessage(next(inbox));
            ws.sendBinary(codec.encode(hs.onChallenge(challenge)), true).get(10, TimeUnit.SECONDS);
            Frame welcome = codec.decodeMessage(next(inbox));
            if (!(welcome instanceof Frame.Welcome)) {
                throw new IllegalStateException("refused: " + welcome);
            }
            HandshakeResult result = hs.onWelcome(welcome);
            FrameCodec session = FrameCodec.forSession(Limits.defaults(), result, null);
            ws.sendBinary(session.encode(new Frame.Close(CloseCode.NORMAL, "bench")), true)
                    .get(10, TimeUnit.SECONDS);
            // the exit closes the connection once the session is closed: the session is gone, not detached
            closed.get(10, TimeUnit.SECONDS);
        } finally {
            ws.abort();
        }
    }

    private static ByteBuffer next(LinkedBlockingQueue<ByteBuffer> inbox) throws Exception {
        ByteBuffer b = inbox.poll(10, TimeUnit.SECONDS);
        if (b == null) {
            throw new IllegalStateException("no answer within 10 s");
        }
        return b;
    }
}
