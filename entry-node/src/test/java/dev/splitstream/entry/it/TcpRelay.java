package dev.splitstream.entry.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/** A loopback TCP relay in front of the exit node that counts bytes each way and can cut every connection. */
final class TcpRelay implements AutoCloseable {
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "tcp-relay");
        t.setDaemon(true);
        return t;
    });
    private final ServerSocket server;
    private final int targetPort;
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    /** Bytes from the entry to the exit node. */
    final AtomicLong up = new AtomicLong();
    /** Bytes from the exit node to the entry. */
    final AtomicLong down = new AtomicLong();

    final AtomicLong accepted = new AtomicLong();
    /** The first bytes each connection sent towards the exit node (the HTTP upgrade request), as text. */
    final List<String> firstRequests = new CopyOnWriteArrayList<>();
    /** While set, connections whose first request is a WebSocket upgrade get 403 (HTTP requests pass). */
    volatile boolean refuseUpgrades;

    TcpRelay(int targetPort) throws IOException {
        this.targetPort = targetPort;
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        threads.submit(this::acceptLoop);
    }

    int port() {
        return server.getLocalPort();
    }

    /** Cuts every relayed connection (both sides see a reset or EOF). */
    void dropAll() {
        for (Socket s : open) {
            try {
                s.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
        open.clear();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                accepted.incrementAndGet();
                Socket target = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                client.setTcpNoDelay(true);
                target.setTcpNoDelay(true);
                open.add(client);
                open.add(target);
                threads.submit(() -> pump(client, target, up, true));
                threads.submit(() -> pump(target, client, down, false));
            } catch (IOException e) {
                if (server.isClosed()) {
                    return;
                }
            }
        }
    }

    private void pump(Socket from, Socket to, AtomicLong counter, boolean record) {
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream()) {
            int n;
            boolean first = record;
            while ((n = in.read(buf)) >= 0) {
                if (first) {
                    first = false;
                    String request =
                            new String(buf, 0, Math.min(n, 4096), java.nio.charset.StandardCharsets.ISO_8859_1);
                    firstRequests.add(request);
                    if (refuseUpgrades
                            && request.toLowerCase(java.util.Locale.ROOT).contains("sec-websocket-key")) {
                        from.getOutputStream()
                                .write("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                        .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                        return;
                    }
                }
                out.write(buf, 0, n);
                counter.addAndGet(n);
            }
        } catch (IOException ignored) {
            // cut
        } finally {
            try {
                from.close();
                to.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        dropAll();
        threads.shutdownNow();
    }
}
