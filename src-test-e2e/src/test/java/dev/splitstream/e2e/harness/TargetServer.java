package dev.splitstream.e2e.harness;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A loopback TCP server that tunnelled clients talk to. Each connection starts with a one-byte mode and an 8-byte
 * length (and, for D, an 8-byte seed):
 *
 * <ul>
 *   <li>{@code U len}: the client uploads {@code len} bytes; the server answers their SHA-256 (32 bytes).
 *   <li>{@code D len seed}: the server sends {@code len} seeded bytes, then their SHA-256.
 *   <li>{@code E len}: the server echoes {@code len} bytes, then closes.
 *   <li>{@code H}: the server holds the connection open until the client closes it.
 * </ul>
 */
public final class TargetServer implements AutoCloseable {
    private static final ExecutorService WRITERS = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "echo-writer");
        thread.setDaemon(true);
        return thread;
    });

    private final ServerSocket server;
    private final ExecutorService threads = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "target-server");
        thread.setDaemon(true);
        return thread;
    });
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicLong bytesIn = new AtomicLong();
    private final AtomicLong bytesOut = new AtomicLong();

    public TargetServer() throws IOException {
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
        threads.execute(this::acceptLoop);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Connections accepted so far. */
    public int accepted() {
        return accepted.get();
    }

    /** Bytes uploaded to this server so far (U connections, counted as they arrive). */
    public long bytesIn() {
        return bytesIn.get();
    }

    /** Bytes this server has written for downloads so far (D connections, counted as they go). */
    public long bytesOut() {
        return bytesOut.get();
    }

    /** Connections open now. */
    public int openConnections() {
        return open.size();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket socket = server.accept();
                accepted.incrementAndGet();
                open.add(socket);
                threads.execute(() -> serve(socket));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket socket) {
        try (socket) {
            socket.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            int mode = in.read();
            switch (mode) {
                case 'U' -> {
                    long length = in.readLong();
                    byte[] digest = Payload.read(in, length, bytesIn);
                    out.write(digest);
                    out.flush();
                    drain(in);
                }
                case 'D' -> {
                    long length = in.readLong();
                    long seed = in.readLong();
                    byte[] digest = Payload.write(out, seed, length, bytesOut);
                    out.write(digest);
                    out.flush();
                    drain(in);
                }
                case 'E' -> {
                    long length = in.readLong();
                    byte[] buffer = new byte[64 * 1024];
                    long remaining = length;
                    while (remaining > 0) {
                        int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
                        if (n < 0) {
                            break;
                        }
                        out.write(buffer, 0, n);
                        remaining -= n;
                    }
                    out.flush();
                    drain(in);
                }
                case 'H' -> drain(in);
                default -> {
                    // not ours (or an empty connection): close
                }
            }
        } catch (IOException e) {
            // the client went away; the test on the client side judges
        } finally {
            open.remove(socket);
        }
    }

    /** Waits for the client to close first, so the server's last bytes are not raced by its own close. */
    private static void drain(InputStream in) throws IOException {
        byte[] buffer = new byte[8192];
        while (in.read(buffer) >= 0) {
            // discard
        }
    }

    /** Client side of U: uploads {@code length} seeded bytes; returns {sent digest, server's digest}. */
    public static byte[][] upload(Socket socket, long seed, long length, AtomicLong progress) throws IOException {
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        out.write('U');
        out.writeLong(length);
        byte[] sent = Payload.write(out, seed, length, progress);
        byte[] received = Payload.readExactly(socket.getInputStream(), 32);
        return new byte[][] {sent, received};
    }

    /** Client side of D: downloads {@code length} seeded bytes; returns {received digest, server's digest}. */
    public static byte[][] download(Socket socket, long seed, long length, AtomicLong progress) throws IOException {
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        out.write('D');
        out.writeLong(length);
        out.writeLong(seed);
        out.flush();
        InputStream in = socket.getInputStream();
        byte[] received = Payload.read(in, length, progress);
        byte[] sent = Payload.readExactly(in, 32);
        return new byte[][] {received, sent};
    }

    /** Client side of E: sends {@code length} seeded bytes while reading the echo; returns {sent, received}. */
    public static byte[][] echo(Socket socket, long seed, long length) throws IOException {
        return echo(socket, seed, length, new AtomicLong());
    }

    /** As {@link #echo(Socket, long, long)}, counting bytes sent and received into {@code progress}. */
    public static byte[][] echo(Socket socket, long seed, long length, AtomicLong progress) throws IOException {
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        out.write('E');
        out.writeLong(length);
        CompletableFuture<byte[]> sent = CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return Payload.write(out, seed, length, progress);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                },
                WRITERS);
        byte[] received = Payload.read(socket.getInputStream(), length, progress);
        try {
            return new byte[][] {sent.get(30, TimeUnit.SECONDS), received};
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("echo writer failed", e);
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket socket : open) {
            socket.close();
        }
        threads.shutdownNow();
    }
}
