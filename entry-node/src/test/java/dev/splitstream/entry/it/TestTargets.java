package dev.splitstream.entry.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/** Blocking loopback servers the tunnel's targets: an echo that honours half-close, and a bounded byte source. */
final class TestTargets implements AutoCloseable {
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "test-target");
        t.setDaemon(true);
        return t;
    });
    private final ServerSocket echo;
    private final ServerSocket source;
    /** Bytes the source managed to hand to its socket, over all its connections. */
    final AtomicLong sourceSent = new AtomicLong();
    /** Bytes the echo read and wrote back, over all its connections. */
    static final AtomicLong echoed = new AtomicLong();

    static final long SOURCE_LIMIT = 256L * 1024 * 1024;

    TestTargets() throws IOException {
        echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        source = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        threads.submit(() -> acceptLoop(echo, TestTargets::echo));
        threads.submit(() -> acceptLoop(source, this::source));
    }

    int echoPort() {
        return echo.getLocalPort();
    }

    int sourcePort() {
        return source.getLocalPort();
    }

    private interface Handler {
        void handle(Socket s) throws IOException;
    }

    private void acceptLoop(ServerSocket server, Handler handler) {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                threads.submit(() -> {
                    try (s) {
                        handler.handle(s);
                    } catch (IOException ignored) {
                        // the peer went away
                    }
                });
            } catch (IOException e) {
                return;
            }
        }
    }

    /** Echoes until the client's FIN, then sends its own FIN. */
    private static void echo(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        OutputStream out = s.getOutputStream();
        byte[] buf = new byte[64 * 1024];
        int n;
        while ((n = in.read(buf)) >= 0) {
            out.write(buf, 0, n);
            echoed.addAndGet(n);
        }
        out.flush();
        s.shutdownOutput();
        // Wait for the peer to close the connection.
        while (in.read() >= 0) {
            // nothing more is expected
        }
    }

    /** Sends up to {@link #SOURCE_LIMIT} bytes as fast as the socket takes them. */
    private void source(Socket s) throws IOException {
        OutputStream out = s.getOutputStream();
        byte[] chunk = new byte[64 * 1024];
        for (long sent = 0; sent < SOURCE_LIMIT; sent += chunk.length) {
            out.write(chunk);
            sourceSent.addAndGet(chunk.length);
        }
        s.shutdownOutput();
    }

    @Override
    public void close() throws IOException {
        echo.close();
        source.close();
        threads.shutdownNow();
    }
}
