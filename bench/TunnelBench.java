import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Load tool for bench/tunnel.sh: a loopback target server and the clients that measure a path to it (direct, through
 * a Splitstream forward, through ssh -L). JDK only; compiled by tunnel.sh into a temp folder.
 *
 * <pre>
 * server                          listen on an ephemeral loopback port, print it, serve until stdin closes
 * throughput PORT CONNS SECONDS [random|text] [up|down]
 *                                 upload (the default) or download for SECONDS on CONNS connections, of incompressible
 *                                 (random, the default) or compressible (text-like) bytes; prints mib_per_s=... bytes=...
 * rtt PORT COUNT [SECONDS]        1-byte ping-pong COUNT times (with SECONDS: no warm-up, and stop once SECONDS
 *                                 passed, for pings while other load runs); prints p50_us=... p99_us=... pings=...
 * idle PORT N STOPFILE MAXSECONDS open N connections, each confirmed end to end, print "ready", hold them until
 *                                 STOPFILE exists (or MAXSECONDS pass)
 * relay TARGETPORT                a plain relay (two threads and one buffer per connection, no framing): print its
 *                                 port, relay to TARGETPORT until stdin closes. Two chained are the two-JVM-hop floor
 * delay TARGETPORT MILLIS [WINDOW] a relay adding MILLIS each way (a WAN path; tc netem is not available): print its
 *                                 port, relay to TARGETPORT until stdin closes. With WINDOW (bytes), at most WINDOW
 *                                 bytes per direction are in flight, each held until MILLIS after it was delivered (its
 *                                 acknowledgement's way back): a TCP sender's window over a 2*MILLIS round trip
 * </pre>
 *
 * Per-connection protocol (first byte): 'T' = frames [int length][bytes], length 0 ends, answered by the server's
 * count and first/last arrival times; 'D' [int millis][boolean text][int seed] = the server sends such frames for
 * millis, then length 0; 'P' = echo byte by byte; 'I' = answer 'k', then hold until closed.
 */
public final class TunnelBench {
    private static final int CHUNK = 64 * 1024;

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
        }
        switch (args[0]) {
            case "server" -> server();
            case "throughput" -> throughput(
                    port(args[1]),
                    Integer.parseInt(args[2]),
                    Double.parseDouble(args[3]),
                    args.length > 4 && args[4].equals("text"),
                    args.length > 5 && args[5].equals("down"));
            case "rtt" -> rtt(port(args[1]), Integer.parseInt(args[2]), args.length > 3 ? Double.parseDouble(args[3]) : 0);
            case "idle" -> idle(port(args[1]), Integer.parseInt(args[2]), Path.of(args[3]), Integer.parseInt(args[4]));
            case "relay" -> relay(port(args[1]));
            case "delay" -> delay(port(args[1]), Long.parseLong(args[2]), args.length > 3 ? Long.parseLong(args[3]) : 0);
            default -> usage();
        }
    }

    private static void usage() {
        System.err.println("usage: TunnelBench server | throughput PORT CONNS SECONDS [random|text] [up|down] | rtt PORT COUNT [SECONDS]"
                + " | idle PORT N STOPFILE MAXSECONDS | relay TARGETPORT | delay TARGETPORT MILLIS [WINDOW]");
        System.exit(2);
    }

    private static int port(String text) {
        return Integer.parseInt(text);
    }

    // --- server ---------------------------------------------------------------------------------------------------

    private static void server() throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 2048);
        System.out.println(server.getLocalPort());
        System.out.flush();
        Thread acceptor = new Thread(() -> {
            while (true) {
                try {
                    Socket socket = server.accept();
                    Thread thread = new Thread(() -> serve(socket), "conn");
                    thread.setDaemon(true);
                    thread.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        // runs until the script closes our stdin (or kills us)
        while (System.in.read() >= 0) {
            // ignore input
        }
        server.close();
    }

    private static void serve(Socket socket) {
        try (socket) {
            socket.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(socket.getInputStream());
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            int mode = in.read();
            switch (mode) {
                case 'T' -> {
                    long[] received = receiveFrames(in);
                    out.writeLong(received[0]);
                    out.writeLong(received[1]);
                    out.writeLong(received[2]);
                    out.flush();
                }
                case 'D' -> {
                    int millis = in.readInt();
                    boolean text = in.readBoolean();
                    byte[][] chunks = chunks(text, in.readInt());
                    long deadline = System.nanoTime() + millis * 1_000_000L;
                    int next = 0;
                    while (System.nanoTime() < deadline) {
                        out.writeInt(CHUNK);
                        out.write(chunks[next++ & 15]);
                    }
                    out.writeInt(0);
                    out.flush();
                    while (in.read() >= 0) {
                        // until the client closes
                    }
                }
                case 'P' -> {
                    int b;
                    while ((b = in.read()) >= 0) {
                        out.write(b);
                        out.flush();
                    }
                }
                case 'I' -> {
                    out.write('k');
                    out.flush();
                    while (in.read() >= 0) {
                        // hold
                    }
                }
                default -> {}
            }
        } catch (IOException e) {
            // client gone
        }
    }

    // --- clients --------------------------------------------------------------------------------------------------

    private static Socket connect(int port) throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
        socket.setSoTimeout(60_000);
        return socket;
    }

    /** Text-like bytes: words of a small vocabulary in random order, about 4:1 with deflate (log lines, JSON, SQL). */
    static void fillText(byte[] chunk, int seed) {
        String[] words = {
            "the", "session", "stream", "frame", "window", "\"id\":", "INFO", "GET /api/v1/items", "200", "user",
            "SELECT", "FROM", "WHERE", "=", "{", "}", "2026-11-29T19:", "value", "null", "true", "\n", "connection",
            "bytes", "latency_ms"
        };
        SplittableRandom random = new SplittableRandom(seed);
        int i = 0;
        while (i < chunk.length) {
            String w = words[random.nextInt(words.length)];
            for (int k = 0; k < w.length() && i < chunk.length; k++) {
                chunk[i++] = (byte) w.charAt(k);
            }
            if (i < chunk.length) {
                chunk[i++] = random.nextInt(8) == 0 ? (byte) ('0' + random.nextInt(10)) : (byte) ' ';
            }
        }
    }

    /** 16 chunks, so a compressor cannot learn one and send references to it. */
    private static byte[][] chunks(boolean text, int seed) {
        byte[][] chunks = new byte[16][CHUNK];
        for (int c = 0; c < chunks.length; c++) {
            if (text) {
                fillText(chunks[c], seed * 100 + c);
            } else {
                new SplittableRandom(seed * 100L + c).nextBytes(chunks[c]);
            }
        }
        return chunks;
    }

    /** The client of a 'D' connection: counts what arrives; returns {bytes, first arrival, last arrival}. */
    private static long[] download(Socket socket, double seconds, boolean text, int seed) throws IOException {
        DataOutputStream out = new DataOutputStream(socket.getOutputStream());
        DataInputStream in = new DataInputStream(socket.getInputStream());
        out.write('D');
        out.writeInt((int) (seconds * 1000));
        out.writeBoolean(text);
        out.writeInt(seed);
        out.flush();
        return receiveFrames(in);
    }

    /** Reads [int length][bytes] frames until length 0; returns {bytes, first arrival, last arrival} (nanoTime). */
    private static long[] receiveFrames(DataInputStream in) throws IOException {
        byte[] buffer = new byte[CHUNK];
        long bytes = 0;
        long first = 0;
        long last = 0;
        while (true) {
            int length = in.readInt();
            if (length == 0) {
                break;
            }
            in.readFully(buffer, 0, length);
            long now = System.nanoTime();
            if (first == 0) {
                first = now;
            }
            last = now;
            bytes += length;
        }
        return new long[] {bytes, first, last};
    }

    private static void throughput(int port, int connections, double seconds, boolean text, boolean down)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(connections);
        CountDownLatch connected = new CountDownLatch(connections);
        List<Future<long[]>> results = new ArrayList<>();
        long[] deadline = new long[1];
        CountDownLatch go = new CountDownLatch(1);
        for (int i = 0; i < connections; i++) {
            int seed = i;
            results.add(pool.submit(() -> {
                try (Socket socket = connect(port)) {
                    if (down) {
                        connected.countDown();
                        go.await();
                        return download(socket, seconds, text, seed);
                    }
                    DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                    DataInputStream in = new DataInputStream(socket.getInputStream());
                    byte[][] chunks = chunks(text, seed);
                    int next = 0;
                    out.write('T');
                    connected.countDown();
                    go.await();
                    while (System.nanoTime() < deadline[0]) {
                        out.writeInt(CHUNK);
                        out.write(chunks[next++ & 15]);
                    }
                    out.writeInt(0);
                    out.flush();
                    return new long[] {in.readLong(), in.readLong(), in.readLong()};
                }
            }));
        }
        connected.await(30, TimeUnit.SECONDS);
        deadline[0] = System.nanoTime() + (long) (seconds * 1e9);
        go.countDown();
        long bytes = 0;
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        for (Future<long[]> result : results) {
            long[] r = result.get((long) seconds + 120, TimeUnit.SECONDS);
            bytes += r[0];
            first = Math.min(first, r[1]);
            last = Math.max(last, r[2]);
        }
        pool.shutdownNow();
        double elapsed = (last - first) / 1e9;
        System.out.printf("mib_per_s=%.1f bytes=%d seconds=%.2f%n", bytes / 1048576.0 / elapsed, bytes, elapsed);
    }

    private static void rtt(int port, int count, double seconds) throws IOException {
        try (Socket socket = connect(port)) {
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            out.write('P');
            int warmup = seconds > 0 ? 0 : Math.min(500, count);
            long deadline = seconds > 0 ? System.nanoTime() + (long) (seconds * 1e9) : Long.MAX_VALUE;
            long[] samples = new long[count];
            for (int i = -warmup; i < count; i++) {
                long start = System.nanoTime();
                if (i > 0 && start > deadline) {
                    count = i;
                    break;
                }
                out.write(i & 0x7f);
                out.flush();
                if (in.read() < 0) {
                    throw new IOException("closed during ping " + i);
                }
                if (i >= 0) {
                    samples[i] = System.nanoTime() - start;
                }
            }
            Arrays.sort(samples, 0, count);
            System.out.printf(
                    "p50_us=%.0f p99_us=%.0f max_us=%.0f pings=%d%n",
                    samples[count / 2] / 1e3, samples[(int) (count * 0.99)] / 1e3, samples[count - 1] / 1e3, count);
        }
    }

    private static void idle(int port, int n, Path stopFile, int maxSeconds) throws Exception {
        List<Socket> sockets = new ArrayList<>();
        long started = System.nanoTime();
        try {
            for (int i = 0; i < n; i++) {
                Socket socket = connect(port);
                sockets.add(socket);
                socket.getOutputStream().write('I');
            }
            for (int i = 0; i < sockets.size(); i++) {
                Socket socket = sockets.get(i);
                socket.setSoTimeout(60_000);
                int answer;
                try {
                    answer = socket.getInputStream().read();
                } catch (IOException e) {
                    throw new IOException("idle connection " + (i + 1) + " of " + n + " was not confirmed: " + e, e);
                }
                if (answer != 'k') {
                    throw new IOException("idle connection " + (i + 1) + " of " + n + " was not confirmed: "
                            + (answer < 0 ? "closed by the tunnel" : "got byte " + answer) + " after "
                            + (System.nanoTime() - started) / 1_000_000 + " ms");
                }
            }
            System.out.printf("ready connections=%d open_ms=%d%n", n, (System.nanoTime() - started) / 1_000_000);
            System.out.flush();
            long until = System.nanoTime() + maxSeconds * 1_000_000_000L;
            while (!Files.exists(stopFile) && System.nanoTime() < until) {
                Thread.sleep(100);
            }
        } finally {
            for (Socket socket : sockets) {
                socket.close();
            }
        }
    }

    // --- plain relay ----------------------------------------------------------------------------------------------

    private static void relay(int targetPort) throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
        System.out.println(server.getLocalPort());
        System.out.flush();
        Thread acceptor = new Thread(() -> {
            while (true) {
                try {
                    Socket client = server.accept();
                    client.setTcpNoDelay(true);
                    Socket upstream = connect(targetPort);
                    upstream.setSoTimeout(0);
                    copy(client, upstream);
                    copy(upstream, client);
                } catch (IOException e) {
                    if (server.isClosed()) {
                        return;
                    }
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        while (System.in.read() >= 0) {
            // until the script closes our stdin
        }
        server.close();
    }

    private static void copy(Socket from, Socket to) {
        Thread thread = new Thread(() -> {
            byte[] buffer = new byte[CHUNK];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    out.write(buffer, 0, n);
                }
                to.shutdownOutput();
            } catch (IOException e) {
                closeQuietly(from);
                closeQuietly(to);
            }
        });
        thread.setDaemon(true);
        thread.start();
    }

    // --- delaying relay -------------------------------------------------------------------------------------------

    private record Chunk(long due, byte[] bytes, int length) {}

    private static java.util.concurrent.ScheduledExecutorService acks;

    private static void delay(int targetPort, long millis, long window) throws IOException {
        acks = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "acks");
            t.setDaemon(true);
            return t;
        });
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
        System.out.println(server.getLocalPort());
        System.out.flush();
        Thread acceptor = new Thread(() -> {
            while (true) {
                try {
                    Socket client = server.accept();
                    Socket upstream = connect(targetPort);
                    upstream.setSoTimeout(0);
                    client.setTcpNoDelay(true);
                    java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger(2);
                    pipe(client, upstream, millis, window, open);
                    pipe(upstream, client, millis, window, open);
                } catch (IOException e) {
                    if (server.isClosed()) {
                        return;
                    }
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        while (System.in.read() >= 0) {
            // until the script closes our stdin
        }
        server.close();
    }

    /**
     * One direction: a reader queues chunks stamped now + delay; a writer sends each when due (bounded queue, so a
     * full queue pushes back on the sender). The pair closes when both directions ended.
     */
    private static void pipe(
            Socket from, Socket to, long millis, long window, java.util.concurrent.atomic.AtomicInteger open) {
        java.util.concurrent.BlockingQueue<Chunk> queue = new java.util.concurrent.ArrayBlockingQueue<>(1024);
        // window emulation: bytes in flight, released one delay after delivery (when the sender would see the ACK)
        java.util.concurrent.Semaphore credit =
                new java.util.concurrent.Semaphore(window > 0 ? (int) Math.min(window, Integer.MAX_VALUE) : 0);
        Thread reader = new Thread(() -> {
            try {
                InputStream in = from.getInputStream();
                while (true) {
                    int max = CHUNK;
                    if (window > 0) {
                        credit.acquire(CHUNK / 4);
                        int more = credit.drainPermits();
                        max = Math.min(CHUNK, CHUNK / 4 + more);
                        credit.release(CHUNK / 4 + more - max);
                    }
                    byte[] buffer = new byte[max];
                    int n = in.read(buffer);
                    if (window > 0 && n < max) {
                        credit.release(max - Math.max(n, 0));
                    }
                    queue.put(new Chunk(System.nanoTime() + millis * 1_000_000, buffer, n));
                    if (n < 0) {
                        return;
                    }
                }
            } catch (IOException | InterruptedException e) {
                queue.offer(new Chunk(System.nanoTime(), new byte[0], -1));
            }
        });
        Thread writer = new Thread(() -> {
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Chunk chunk = queue.take();
                    long wait = chunk.due() - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                    if (chunk.length() < 0) {
                        to.shutdownOutput();
                        break;
                    }
                    out.write(chunk.bytes(), 0, chunk.length());
                    if (window > 0) {
                        int n = chunk.length();
                        acks.schedule(() -> credit.release(n), millis, TimeUnit.MILLISECONDS);
                    }
                }
            } catch (IOException | InterruptedException e) {
                open.set(1); // a broken direction ends the pair
            }
            if (open.decrementAndGet() <= 0) {
                closeQuietly(from);
                closeQuietly(to);
            }
        });
        reader.setDaemon(true);
        writer.setDaemon(true);
        reader.start();
        writer.start();
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // gone already
        }
    }
}
