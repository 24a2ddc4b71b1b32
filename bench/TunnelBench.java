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
 * throughput PORT CONNS SECONDS   upload for SECONDS on CONNS connections; prints mib_per_s=...
 * rtt PORT COUNT                  1-byte ping-pong COUNT times; prints p50_us=... p99_us=...
 * idle PORT N STOPFILE MAXSECONDS open N connections, each confirmed end to end, print "ready", hold them until
 *                                 STOPFILE exists (or MAXSECONDS pass)
 * delay TARGETPORT MILLIS         a relay adding MILLIS each way (a WAN path; tc netem is not available): print its
 *                                 port, relay to TARGETPORT until stdin closes
 * </pre>
 *
 * Per-connection protocol (first byte): 'T' = frames [int length][bytes], length 0 ends, answered by the server's
 * count and first/last arrival times; 'P' = echo byte by byte; 'I' = answer 'k', then hold until closed.
 */
public final class TunnelBench {
    private static final int CHUNK = 64 * 1024;

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
        }
        switch (args[0]) {
            case "server" -> server();
            case "throughput" -> throughput(port(args[1]), Integer.parseInt(args[2]), Double.parseDouble(args[3]));
            case "rtt" -> rtt(port(args[1]), Integer.parseInt(args[2]));
            case "idle" -> idle(port(args[1]), Integer.parseInt(args[2]), Path.of(args[3]), Integer.parseInt(args[4]));
            case "delay" -> delay(port(args[1]), Long.parseLong(args[2]));
            default -> usage();
        }
    }

    private static void usage() {
        System.err.println("usage: TunnelBench server | throughput PORT CONNS SECONDS | rtt PORT COUNT"
                + " | idle PORT N STOPFILE MAXSECONDS | delay TARGETPORT MILLIS");
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
                    out.writeLong(bytes);
                    out.writeLong(first);
                    out.writeLong(last);
                    out.flush();
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

    private static void throughput(int port, int connections, double seconds) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(connections);
        CountDownLatch connected = new CountDownLatch(connections);
        List<Future<long[]>> results = new ArrayList<>();
        long[] deadline = new long[1];
        CountDownLatch go = new CountDownLatch(1);
        for (int i = 0; i < connections; i++) {
            int seed = i;
            results.add(pool.submit(() -> {
                try (Socket socket = connect(port)) {
                    DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                    DataInputStream in = new DataInputStream(socket.getInputStream());
                    byte[] chunk = new byte[CHUNK];
                    new SplittableRandom(seed).nextBytes(chunk);
                    out.write('T');
                    connected.countDown();
                    go.await();
                    while (System.nanoTime() < deadline[0]) {
                        out.writeInt(CHUNK);
                        out.write(chunk);
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

    private static void rtt(int port, int count) throws IOException {
        try (Socket socket = connect(port)) {
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            out.write('P');
            int warmup = Math.min(500, count);
            long[] samples = new long[count];
            for (int i = -warmup; i < count; i++) {
                long start = System.nanoTime();
                out.write(i & 0x7f);
                out.flush();
                if (in.read() < 0) {
                    throw new IOException("closed during ping " + i);
                }
                if (i >= 0) {
                    samples[i] = System.nanoTime() - start;
                }
            }
            Arrays.sort(samples);
            System.out.printf(
                    "p50_us=%.0f p99_us=%.0f max_us=%.0f%n",
                    samples[count / 2] / 1e3, samples[(int) (count * 0.99)] / 1e3, samples[count - 1] / 1e3);
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
            for (Socket socket : sockets) {
                if (socket.getInputStream().read() != 'k') {
                    throw new IOException("an idle connection was not confirmed");
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

    // --- delaying relay -------------------------------------------------------------------------------------------

    private record Chunk(long due, byte[] bytes, int length) {}

    private static void delay(int targetPort, long millis) throws IOException {
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
                    pipe(client, upstream, millis, open);
                    pipe(upstream, client, millis, open);
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
    private static void pipe(Socket from, Socket to, long millis, java.util.concurrent.atomic.AtomicInteger open) {
        java.util.concurrent.BlockingQueue<Chunk> queue = new java.util.concurrent.ArrayBlockingQueue<>(1024);
        Thread reader = new Thread(() -> {
            try {
                InputStream in = from.getInputStream();
                while (true) {
                    byte[] buffer = new byte[CHUNK];
                    int n = in.read(buffer);
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
