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
        try {
            CompletableFuture<byte[][]> up = CompletableFuture.supplyAsync(
                    () -> {
                        try (Socket socket = connect(port, Duration.ofSeconds(60))) {
                            return TargetServer.upload(socket, seed, bytes);
                        } catch (IOException e) {
                            throw new UncheckedIOException("upload", e);
                        }
                    },
                    pool);
            CompletableFuture<byte[][]> down = CompletableFuture.supplyAsync(
                    () -> {
                        try (Socket socket = connect(port, Duration.ofSeconds(60))) {
                            return TargetServer.download(socket, seed + 1, bytes);
                        } catch (IOException e) {
                            throw new UncheckedIOException("download", e);
                        }
                    },
                    pool);
            byte[][] upDigests = get(up, timeout, "upload of " + bytes + " bytes");
            byte[][] downDigests = get(down, timeout, "download of " + bytes + " bytes");
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
                                byte[][] digests = TargetServer.echo(socket, connectionSeed, size);
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
            CompletableFuture.allOf(results.toArray(CompletableFuture[]::new))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return total;
        } catch (ExecutionException e) {
            throw new AssertionError("a parallel connection failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            long done = results.stream().filter(CompletableFuture::isDone).count();
            throw new AssertionError(done + " of " + connections + " connections finished within " + timeout, e);
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
