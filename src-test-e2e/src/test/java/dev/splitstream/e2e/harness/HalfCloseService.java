package dev.splitstream.e2e.harness;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP service on loopback that answers any request with {@code 101 Switching Protocols} (upgrade
 * {@value #PROTOCOL}) and then relies on half-close, as a client of an upgraded connection may:
 *
 * <ul>
 *   <li>{@code /reply/<n>}: reads until the end of its input (the client's FIN), then writes {@code got <bytes>
 *       <sha256>\n} followed by {@code n} seeded bytes ({@link Payload}, seed {@code n}), and closes;
 *   <li>{@code /trickle}: reads until the end of its input, then writes one byte every 200 ms until a write fails (the
 *       connection was closed from the other side) or 60 s have passed, and notes when its writes started failing.
 * </ul>
 *
 * Every connection runs on a thread of its own (a handful per test); closing the service closes them all.
 */
public final class HalfCloseService implements AutoCloseable {
    public static final String PROTOCOL = "splitstream-half-close-test";

    private final ServerSocket server;
    private final Thread acceptor;
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    /** For each /trickle connection that ended: milliseconds from its input's end until a write failed (-1: never). */
    private final List<Long> trickleEnds = new CopyOnWriteArrayList<>();

    public HalfCloseService() throws IOException {
        server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        acceptor = new Thread(this::accept, "half-close-service");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Milliseconds between each finished /trickle connection's input end and its first failed write (-1: none). */
    public List<Long> trickleEnds() {
        return List.copyOf(trickleEnds);
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                open.add(s);
                Thread t = new Thread(() -> serve(s), "half-close-connection");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            s.setTcpNoDelay(true);
            s.setSoTimeout(120_000);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            String head = readHead(in);
            String path = head.substring(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1));
            out.write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + PROTOCOL + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            MessageDigest digest = Payload.sha256();
            byte[] buffer = new byte[64 * 1024];
            long got = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                digest.update(buffer, 0, n);
                got += n;
            }
            if (path.startsWith("/reply/")) {
                long n = Long.parseLong(path.substring("/reply/".length()));
                out.write(
                        ("got " + got + " " + Payload.hex(digest.digest()) + "\n").getBytes(StandardCharsets.US_ASCII));
                Payload.write(out, n, n);
            } else {
                long inputEnded = System.nanoTime();
                long failedAfter = -1;
                long deadline = inputEnded + TimeUnit.SECONDS.toNanos(60);
                while (System.nanoTime() < deadline) {
                    try {
                        out.write('.');
                        out.flush();
                    } catch (SocketException closed) {
                        failedAfter = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - inputEnded);
                        break;
                    }
                    // paced writes: the case is about time, and this thread serves one test connection
                    TimeUnit.MILLISECONDS.sleep(200);
                }
                trickleEnds.add(failedAfter);
            }
        } catch (IOException e) {
            // the client went away: nothing to answer
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            open.remove(s);
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < 4) {
            int b = in.read();
            if (b < 0 || head.size() > 64 * 1024) {
                throw new IOException("no request head");
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }
}
