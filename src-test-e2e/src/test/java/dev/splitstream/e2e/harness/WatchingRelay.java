package dev.splitstream.e2e.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP relay between an entry and an exit node that stands for a TLS-terminating proxy or CDN: it sees every byte the
 * nodes exchange. It looks for a known byte string in each direction ({@link #sawDownstream()}, {@link #sawUpstream()};
 * WebSocket frames from the entry are masked, so plaintext shows up in the exit-to-entry direction), and on request
 * flips one bit in the middle of the next large chunk from the exit ({@link #flipOneBitDownstream()}).
 */
public final class WatchingRelay implements AutoCloseable {
    private final ServerSocket server;
    private final int targetPort;
    private final byte[] marker;
    private final ExecutorService threads = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "watching-relay");
        thread.setDaemon(true);
        return thread;
    });
    private final List<Socket[]> pairs = new CopyOnWriteArrayList<>();
    private final AtomicBoolean sawUp = new AtomicBoolean();
    private final AtomicBoolean sawDown = new AtomicBoolean();
    private final AtomicBoolean flipArmed = new AtomicBoolean();
    private final AtomicInteger flipped = new AtomicInteger();

    public WatchingRelay(int targetPort, byte[] marker) throws IOException {
        this.targetPort = targetPort;
        this.marker = marker.clone();
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        threads.execute(this::acceptLoop);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** True once the marker crossed from the entry to the exit in clear. */
    public boolean sawUpstream() {
        return sawUp.get();
    }

    /** True once the marker crossed from the exit to the entry in clear. */
    public boolean sawDownstream() {
        return sawDown.get();
    }

    /** Flips one bit in the middle of the next chunk of at least 4 KiB from the exit to the entry. */
    public void flipOneBitDownstream() {
        flipArmed.set(true);
    }

    /** Bits flipped so far. */
    public int flipped() {
        return flipped.get();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                Socket upstream = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                client.setTcpNoDelay(true);
                upstream.setTcpNoDelay(true);
                Socket[] pair = {client, upstream};
                pairs.add(pair);
                threads.execute(() -> pump(pair, client, upstream, sawUp, false));
                threads.execute(() -> pump(pair, upstream, client, sawDown, true));
            } catch (IOException e) {
                if (server.isClosed()) {
                    return;
                }
            }
        }
    }

    private void pump(Socket[] pair, Socket from, Socket to, AtomicBoolean saw, boolean downstream) {
        byte[] buffer = new byte[64 * 1024];
        // The last marker.length - 1 bytes of the previous chunk, so a marker split across reads is still found.
        byte[] window = new byte[buffer.length + marker.length];
        int carried = 0;
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (downstream && n >= 4096 && flipArmed.compareAndSet(true, false)) {
                    buffer[n / 2] ^= 0x01;
                    flipped.incrementAndGet();
                }
                System.arraycopy(buffer, 0, window, carried, n);
                int length = carried + n;
                if (!saw.get() && indexOf(window, length, marker) >= 0) {
                    saw.set(true);
                }
                carried = Math.min(marker.length - 1, length);
                System.arraycopy(window, length - carried, window, 0, carried);
                out.write(buffer, 0, n);
            }
            to.shutdownOutput();
        } catch (IOException e) {
            reset(pair);
        }
    }

    private static int indexOf(byte[] haystack, int length, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private void reset(Socket[] pair) {
        pairs.remove(pair);
        for (Socket socket : pair) {
            try {
                socket.setSoLinger(true, 0);
                socket.close();
            } catch (IOException ignored) {
                // already gone
            }
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
        Arrays.fill(marker, (byte) 0);
    }
}
