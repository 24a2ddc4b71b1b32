package dev.splitstream.e2e.harness;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/** Client-side transfers through a forward to a {@link TargetServer}, checked by SHA-256. */
public final class Transfers {
    private Transfers() {}

    /** A connected loopback socket to {@code port}, with a read timeout so a stuck tunnel fails the test. */
    public static Socket connect(int port, Duration readTimeout) throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
        socket.setSoTimeout((int) readTimeout.toMillis());
        return socket;
    }

    /** Prints a figure the final report quotes, in a form easy to grep ({@code E2E-FIGURE}). */
    public static void figure(String text) {
        System.out.println("E2E-FIGURE " + text);
    }

    /**
     * Uploads and downloads {@code bytes} each way at once, on two connections through {@code port}; asserts that
     * both sides computed the same SHA-256. Returns the elapsed time.
     */
    public static Duration uploadAndDownload(int port, long bytes, long seed, Duration timeout) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long started = System.nanoTime();
        AtomicLong sent = new AtomicLong();
        AtomicLong received = new AtomicLong();
        try {
            CompletableFuture<byte[][]> up = CompletableFuture.supplyAsync(
                    () -> {
                        try (Socket socket = connect(port, Duration.ofSeconds(60))) {
                            return TargetServer.upload(socket, seed, bytes, sent);
                        } catch (IOException e) {
                            throw new UncheckedIOException("upload", e);
                        }
                    },
                    pool);
            CompletableFuture<byte[][]> down = CompletableFuture.supplyAsync(
                    () -> {
                        try (Socket socket = connect(port, Duration.ofSeconds(60))) {
                            return TargetServer.download(socket, seed + 1, bytes, received);
                        } catch (IOException e) {
                            throw new UncheckedIOException("download", e);
                        }
                    },
                    pool);
            awaitWithProgress(
                    CompletableFuture.allOf(up, down),
                    timeout,
                    () -> sent.get() + received.get(),
                    () -> "upload at " + sent.get() + ", download at " + received.get() + " of " + bytes + " bytes");
            byte[][] upDigests = get(up, Duration.ofSeconds(1), "upload of " + bytes + " bytes");
            byte[][] downDigests = get(down, Duration.ofSeconds(1), "download of " + bytes + " bytes");
            assertThat(Payload.hex(upDigests[1]))
                    .as("SHA-256 of the %d bytes the target received vs those the client sent", bytes)
                    .isEqualTo(Payload.hex(upDigests[0]));
            assertThat(Payload.hex(downDigests[0]))
                    .as("SHA-256 of the %d bytes the client received vs those the target sent", bytes)
                    .isEqualTo(Payload.hex(downDigests[1]));
            return Duration.ofNanos(System.nanoTime() - started);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Opens {@code connections} connections at once through {@code port}, each echoing a random size up to
     * {@code maxBytes}; asserts every echo intact. Returns the total bytes sent.
     */
    public static long parallelEchoes(int port, int connections, int maxBytes, long seed, Duration timeout)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(connections);
        SplittableRandom random = new SplittableRandom(seed);
        List<CompletableFuture<Long>> results = new ArrayList<>();
        AtomicLong progress = new AtomicLong();
        long total = 0;
        try {
            for (int i = 0; i < connections; i++) {
                long size = i == 0 ? 1 : random.nextInt(maxBytes) + 1;
                long connectionSeed = seed * 1000 + i;
                total += size;
                int index = i;
                results.add(CompletableFuture.supplyAsync(
                        () -> {
                            try (Socket socket = connect(port, Duration.ofSeconds(60))) {
                                byte[][] digests = TargetServer.echo(socket, connectionSeed, size, progress);
                                assertThat(Payload.hex(digests[1]))
                                        .as("connection %d: echo of %d bytes", index, size)
                                        .isEqualTo(Payload.hex(digests[0]));
                                return size;
                            } catch (IOException e) {
                                throw new UncheckedIOException("connection " + index + " (" + size + " bytes)", e);
                            }
                        },
                        pool));
            }
            long expected = 2 * total;
            awaitWithProgress(
                    CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)),
                    timeout,
                    progress::get,
                    () -> results.stream().filter(CompletableFuture::isDone).count() + " of " + connections
                            + " connections done, " + progress.get() + " of " + expected + " bytes moved");
            return total;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Echoes {@code bytes} over one connection and asserts it intact. */
    public static void echo(int port, long bytes, long seed) throws IOException {
        try (Socket socket = connect(port, Duration.ofSeconds(30))) {
            byte[][] digests = TargetServer.echo(socket, seed, bytes);
            assertThat(Payload.hex(digests[1])).isEqualTo(Payload.hex(digests[0]));
        }
    }

    /** How long a transfer may make no progress before the test calls it stalled. */
    public static final Duration STALL_LIMIT = Duration.ofSeconds(30);

    /**
     * Waits for {@code done}, failing early when {@code progress} does not move for {@link #STALL_LIMIT} (a stuck
     * tunnel fails in 30 s, not after the whole time budget).
     */
    public static void awaitWithProgress(
            CompletableFuture<?> done, Duration timeout, LongSupplier progress, Supplier<String> state)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long lastValue = -1;
        long lastChange = System.nanoTime();
        while (true) {
            try {
                done.get(500, TimeUnit.MILLISECONDS);
                return;
            } catch (TimeoutException e) {
                long now = System.nanoTime();
                long value = progress.getAsLong();
                if (value != lastValue) {
                    lastValue = value;
                    lastChange = now;
                } else if (now - lastChange > STALL_LIMIT.toNanos()) {
                    throw new AssertionError("transfer stalled for " + STALL_LIMIT.toSeconds() + " s: " + state.get());
                }
                if (now > deadline) {
                    throw new AssertionError("transfer did not finish within " + timeout + ": " + state.get());
                }
            } catch (ExecutionException e) {
                throw new AssertionError("transfer failed: " + e.getCause() + " (" + state.get() + ")", e.getCause());
            }
        }
    }

    private static <T> T get(CompletableFuture<T> future, Duration timeout, String what) throws Exception {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError(what + " failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not finish within " + timeout, e);
        }
    }
}
