import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The soak's moving parts (bench/soak.sh), all on loopback and bounded in count and time:
 *
 * <pre>
 *   java SoakTraffic targets                      echo and black-hole servers; prints "echo PORT" and "hole PORT"
 *   java SoakTraffic relay PORT CUT_SECONDS       a TCP relay to 127.0.0.1:PORT that cuts every connection every
 *                                                 CUT_SECONDS; prints its port
 *   java SoakTraffic traffic ECHO_FWD HOLE_FWD SECONDS FLOOD_EVERY FLOOD_CONNS
 *                                                 4 workers echoing random sizes (1 KiB..4 MiB, SHA-256 checked)
 *                                                 through ECHO_FWD; every FLOOD_EVERY s, FLOOD_CONNS connections send
 *                                                 1 MB each into HOLE_FWD (a target that never reads), held 15 s
 * </pre>
 *
 * <p>Failed echoes are counted by what went wrong and when: {@code connect} (no connection within 10 s), {@code nothing}
 * (closed before a byte came back: how a forward answers a stream the exit or the budget refused), {@code short} (the
 * echo ended early after some bytes: a reset), {@code timeout} (no byte for 60 s), {@code corrupt} (as many bytes or more
 * came back, but different: the one kind that is a defect whatever else happens), each {@code in-flood} (a flood was
 * running or had ended less than 5 s before) or {@code between} (the relay's cuts are the usual cause then).
 */
public final class SoakTraffic {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "targets" -> targets();
            case "relay" -> relay(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
            case "traffic" -> traffic(
                    Integer.parseInt(args[1]),
                    Integer.parseInt(args[2]),
                    Long.parseLong(args[3]),
                    Long.parseLong(args[4]),
                    Integer.parseInt(args[5]));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    private static ServerSocket listen() throws IOException {
        return new ServerSocket(0, 4096, InetAddress.getLoopbackAddress());
    }

    private static void daemon(Runnable r) {
        Thread t = new Thread(r);
        t.setDaemon(true);
        t.start();
    }

    private static void targets() throws Exception {
        ServerSocket echo = listen();
        ServerSocket hole = listen();
        System.out.println("echo " + echo.getLocalPort());
        System.out.println("hole " + hole.getLocalPort());
        System.out.flush();
        daemon(() -> accept(echo, s -> {
            try (s) {
                s.getInputStream().transferTo(s.getOutputStream());
            }
        }));
        // Accepts and never reads. A socket is closed 60 s after its accept (a flood holds for 15 s; by then the exit
        // has reset its side), and at most 8,000 are held: keeping up to 20,000 ran this process out of file
        // descriptors (its limit here is 20,000) 27 minutes into an hour's soak, after which every echo failed.
        ArrayDeque<Held> held = new ArrayDeque<>();
        accept(hole, s -> {
            synchronized (held) {
                long now = System.nanoTime();
                held.addLast(new Held(s, now));
                while (!held.isEmpty()
                        && (held.size() > 8_000 || now - held.peekFirst().acceptedAt() > 60_000_000_000L)) {
                    held.pollFirst().socket().close();
                }
            }
        });
    }

    private record Held(Socket socket, long acceptedAt) {}

    interface SocketTask {
        void run(Socket s) throws IOException;
    }

    private static void accept(ServerSocket server, SocketTask task) {
        long failures = 0;
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                daemon(() -> {
                    try {
                        task.run(s);
                    } catch (IOException ignored) {
                        // the peer went away
                    }
                });
            } catch (IOException e) {
                // A failed accept (out of file descriptors, or the kernel's TCP memory under a flood) is not the end:
                // returning here ended the targets process silently 26 minutes into an hour's soak.
                if (failures++ % 1000 == 0) {
                    System.err.println("accept on " + server.getLocalPort() + " failed (" + failures + "): " + e);
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException stop) {
                    return;
                }
            }
        }
    }

    private static void relay(int targetPort, int cutSeconds) throws Exception {
        ServerSocket server = listen();
        System.out.println(server.getLocalPort());
        System.out.flush();
        ConcurrentLinkedQueue<Socket> open = new ConcurrentLinkedQueue<>();
        daemon(() -> {
            while (true) {
                try {
                    Thread.sleep(cutSeconds * 1000L);
                } catch (InterruptedException e) {
                    return;
                }
                Socket s;
                int n = 0;
                while ((s = open.poll()) != null) {
                    try {
                        s.close();
                        n++;
                    } catch (IOException ignored) {
                        // already closed
                    }
                }
                System.err.println("relay: cut " + n + " sockets");
            }
        });
        accept(server, in -> {
            Socket out = new Socket(InetAddress.getLoopbackAddress(), targetPort);
            in.setTcpNoDelay(true);
            out.setTcpNoDelay(true);
            open.add(in);
            open.add(out);
            daemon(() -> pipe(in, out));
            pipe(out, in);
        });
    }

    private static void pipe(Socket from, Socket to) {
        try {
            from.getInputStream().transferTo(to.getOutputStream());
        } catch (IOException ignored) {
            // cut
        } finally {
            try {
                from.close();
                to.close();
            } catch (IOException ignored) {
                // closed
            }
        }
    }

    private static void traffic(int echoFwd, int holeFwd, long seconds, long floodEvery, int floodConns)
            throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        AtomicLong ok = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        Map<String, AtomicLong> causes = new ConcurrentHashMap<>();
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < 4; w++) {
            int seed = w;
            Thread t = new Thread(() -> {
                Random random = new Random(seed);
                while (System.nanoTime() < end) {
                    int size = 1024 << random.nextInt(13); // 1 KiB .. 4 MiB
                    try {
                        echoOnce(echoFwd, size, random);
                        ok.incrementAndGet();
                        bytes.addAndGet(size);
                    } catch (Exception e) {
                        failed.incrementAndGet(); // cuts may reset a connection: counted, not fatal
                        String when = System.nanoTime() - floodEndedAt < 5_000_000_000L ? "in-flood" : "between";
                        causes.computeIfAbsent(kind(e) + "/" + when, k -> new AtomicLong()).incrementAndGet();
                        sleep(500);
                    }
                }
            });
            t.start();
            workers.add(t);
        }
        long nextFlood = System.nanoTime() + floodEvery * 1_000_000_000L;
        long floods = 0;
        long nextReport = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < end) {
            if (System.nanoTime() >= nextFlood) {
                floods++;
                floodEndedAt = Long.MAX_VALUE / 2; // running
                flood(holeFwd, floodConns, Math.min(15, Math.max(1, (end - System.nanoTime()) / 1_000_000_000L)));
                floodEndedAt = System.nanoTime();
                nextFlood = System.nanoTime() + floodEvery * 1_000_000_000L;
            }
            if (System.nanoTime() >= nextReport) {
                System.err.printf("traffic: %d echoes ok (%d MiB), %d failed %s, %d floods%n",
                        ok.get(), bytes.get() >> 20, failed.get(), tally(causes), floods);
                nextReport += 60_000_000_000L;
            }
            sleep(200);
        }
        for (Thread t : workers) {
            t.join(120_000);
        }
        System.out.printf("traffic: %d echoes ok (%d MiB), %d failed %s, %d floods of %d connections%n",
                ok.get(), bytes.get() >> 20, failed.get(), tally(causes), floods, floodConns);
    }

    /** When the last flood ended ({@code System.nanoTime()}); far in the future while one runs. */
    private static volatile long floodEndedAt = Long.MIN_VALUE / 2;

    /** An echo that failed in a way the echo itself shows: {@code nothing}, {@code short} or {@code corrupt}. */
    private static final class EchoFailed extends IOException {
        final String kind;

        EchoFailed(String kind, String message) {
            super(message);
            this.kind = kind;
        }
    }

    private static final class ConnectFailed extends IOException {
        ConnectFailed(IOException cause) {
            super(cause);
        }
    }

    private static String kind(Exception e) {
        if (e instanceof EchoFailed f) {
            return f.kind;
        }
        if (e instanceof ConnectFailed) {
            return "connect";
        }
        if (e instanceof java.net.SocketTimeoutException) {
            return "timeout";
        }
        return "short"; // a reset while reading
    }

    /** "{connect/between=2, short/in-flood=31}", sorted, for the report lines. */
    private static String tally(Map<String, AtomicLong> causes) {
        Map<String, Long> sorted = new TreeMap<>();
        causes.forEach((k, v) -> sorted.put(k, v.get()));
        return sorted.toString();
    }

    private static void echoOnce(int port, int size, Random random) throws Exception {
        byte[] data = new byte[size];
        random.nextBytes(data);
        try (Socket s = new Socket()) {
            try {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
            } catch (IOException e) {
                throw new ConnectFailed(e);
            }
            s.setSoTimeout(60_000);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            Thread writer = new Thread(() -> {
                try {
                    out.write(data);
                    s.shutdownOutput();
                } catch (IOException ignored) {
                    // seen by the reader
                }
            });
            writer.start();
            byte[] back = in.readAllBytes();
            writer.join(60_000);
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            if (back.length == 0) {
                throw new EchoFailed("nothing", "echo of " + size + " bytes: closed before a byte came back");
            }
            if (back.length < size) {
                throw new EchoFailed("short", "echo of " + size + " bytes ended after " + back.length);
            }
            if (!Arrays.equals(sha.digest(back), MessageDigest.getInstance("SHA-256").digest(data))) {
                throw new EchoFailed(
                        "corrupt", "echo of " + size + " bytes came back as " + back.length + " different bytes");
            }
        }
    }

    /** {@code n} connections each pushing 1 MB (as far as they are let) into a target that never reads, for a while. */
    private static void flood(int port, int n, long holdSeconds) {
        List<SocketChannel> channels = new ArrayList<>();
        long refused = 0;
        try {
            for (int i = 0; i < n; i++) {
                try {
                    SocketChannel c = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                    c.configureBlocking(false);
                    channels.add(c);
                } catch (IOException e) {
                    refused++;
                }
            }
            long[] written = new long[channels.size()];
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            long until = System.nanoTime() + holdSeconds * 1_000_000_000L;
            while (System.nanoTime() < until) {
                for (int i = 0; i < channels.size(); i++) {
                    SocketChannel c = channels.get(i);
                    if (written[i] < 1_000_000 && c.isOpen()) {
                        try {
                            written[i] += c.write(chunk.clear());
                        } catch (IOException e) {
                            refused++;
                            c.close();
                        }
                    }
                }
                sleep(20);
            }
            long total = Arrays.stream(written).sum();
            System.err.printf("flood: %d connections, %d MiB taken, %d refused or closed%n", n, total >> 20, refused);
        } catch (IOException e) {
            System.err.println("flood: " + e);
        } finally {
            for (SocketChannel c : channels) {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // closed
                }
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
