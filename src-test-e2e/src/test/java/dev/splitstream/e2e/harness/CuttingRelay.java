package dev.splitstream.e2e.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP relay between an entry and an exit node that the test can cut: {@link #cut()} resets every connection it
 * carries (as a NAT box, a proxy or a CDN dropping a WebSocket would), new connections are still relayed. It can also
 * stop reading what the entry sends ({@link #stallUpstream}), as a congested path would, or hold the plain-HTTP
 * transport's downstream requests for a while ({@link #holdDownstreamRequests}), as a slow proxy would, and carry each
 * direction of each connection at a fixed rate ({@link #pace}), as a slow link would.
 */
public final class CuttingRelay implements AutoCloseable {
    private final ServerSocket server;
    private final int targetPort;
    private final ExecutorService threads = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "cutting-relay");
        thread.setDaemon(true);
        return thread;
    });
    private final List<Socket[]> pairs = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicLong relayed = new AtomicLong();
    private final AtomicLong relayedToEntry = new AtomicLong();
    private volatile boolean refusing;
    private final Object stall = new Object();
    private boolean stalled;
    private volatile long holdDownstreamMillis;
    private volatile long paceBytesPerSecond;

    public CuttingRelay(int targetPort) throws IOException {
        this.targetPort = targetPort;
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        threads.execute(this::acceptLoop);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Connections accepted so far (the first plus one per reconnect). */
    public int accepted() {
        return accepted.get();
    }

    /** Bytes relayed so far, both directions. */
    public long relayed() {
        return relayed.get();
    }

    /** Bytes relayed so far from the exit to the entry. */
    public long relayedToEntry() {
        return relayedToEntry.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                if (refusing) {
                    client.setSoLinger(true, 0);
                    client.close();
                    continue;
                }
                accepted.incrementAndGet();
                Socket upstream = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                client.setTcpNoDelay(true);
                upstream.setTcpNoDelay(true);
                Socket[] pair = {client, upstream};
                pairs.add(pair);
                threads.execute(() -> pump(pair, client, upstream, true));
                threads.execute(() -> pump(pair, upstream, client, false));
            } catch (IOException e) {
                if (server.isClosed()) {
                    return;
                }
            }
        }
    }

    private void pump(Socket[] pair, Socket from, Socket to, boolean fromEntry) {
        byte[] buffer = new byte[64 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            long paceStart = System.nanoTime();
            long paced = 0;
            while ((!fromEntry || awaitFlowing()) && (n = in.read(buffer)) >= 0) {
                if (fromEntry && holdDownstreamMillis > 0 && startsDownstreamRequest(buffer, n)) {
                    Thread.sleep(holdDownstreamMillis);
                }
                long rate = paceBytesPerSecond;
                if (rate > 0) {
                    // 4 KiB at a time: a 64 KiB read would otherwise leave in one burst
                    for (int off = 0; off < n; off += 4096) {
                        int len = Math.min(4096, n - off);
                        long due = paceStart + (paced + len) * 1_000_000_000L / rate;
                        long wait = due - System.nanoTime();
                        if (wait > 0) {
                            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                        } else if (wait < -100_000_000L) {
                            paceStart = System.nanoTime(); // idle for a while: no burst to catch up
                            paced = 0;
                        }
                        out.write(buffer, off, len);
                        paced += len;
                        count(fromEntry, len);
                    }
                    continue;
                }
                out.write(buffer, 0, n);
                count(fromEntry, n);
            }
            to.shutdownOutput();
        } catch (IOException e) {
            reset(pair);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            reset(pair);
        }
    }

    private void count(boolean fromEntry, int n) {
        relayed.addAndGet(n);
        if (!fromEntry) {
            relayedToEntry.addAndGet(n);
        }
    }

    /** Whether a read from the entry begins a {@code GET .../down} of the plain-HTTP transport. */
    private static boolean startsDownstreamRequest(byte[] buffer, int n) {
        String head = new String(buffer, 0, Math.min(n, 256), StandardCharsets.ISO_8859_1);
        int eol = head.indexOf('\r');
        String requestLine = eol < 0 ? head : head.substring(0, eol);
        return requestLine.startsWith("GET ") && requestLine.contains("/splitstream/v1/http/down");
    }

    private void reset(Socket[] pair) {
        pairs.remove(pair);
        for (Socket socket : pair) {
            try {
                socket.setSoLinger(true, 0); // RST, not FIN: the peers see an abrupt loss
                socket.close();
            } catch (IOException ignored) {
                // already gone
            }
        }
    }

    /** While on, new connections are reset as soon as they arrive (the path is down, not just cut once). */
    public void refuseNew(boolean on) {
        refusing = on;
    }

    /**
     * While on, nothing more is read from the entry's side of any connection: its bytes pile up in the kernel's socket
     * buffers and then in the entry; bytes towards the entry still flow.
     */
    public void stallUpstream(boolean on) {
        synchronized (stall) {
            stalled = on;
            stall.notifyAll();
        }
    }

    /**
     * While {@code hold} is above zero, every downstream GET of the plain-HTTP transport waits that long in the relay
     * before it goes on to the exit (the exit answers an upstream POST sent at the same time first). Zero: off.
     */
    public void holdDownstreamRequests(Duration hold) {
        holdDownstreamMillis = hold.toMillis();
    }

    /** Carries each direction of each connection at most at {@code bytesPerSecond} from now on; zero: unpaced. */
    public void pace(long bytesPerSecond) {
        paceBytesPerSecond = bytesPerSecond;
    }

    /** Blocks while stalled; false if interrupted (the relay is closing). */
    private boolean awaitFlowing() {
        synchronized (stall) {
            while (stalled) {
                try {
                    stall.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }

    /** Resets every connection carried now; returns how many were cut. */
    public int cut() {
        int n = 0;
        for (Socket[] pair : pairs) {
            reset(pair);
            n++;
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        server.close();
        cut();
        threads.shutdownNow();
    }
}
