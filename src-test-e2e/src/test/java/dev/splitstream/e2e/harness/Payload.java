package dev.splitstream.e2e.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/** Seeded pseudo-random bytes, streamed (never held whole), and SHA-256 digests of byte streams. */
public final class Payload {
    private static final int CHUNK = 64 * 1024;

    private Payload() {}

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest);
    }

    /** Writes {@code length} seeded bytes to {@code out}; returns their SHA-256. */
    public static byte[] write(OutputStream out, long seed, long length) throws IOException {
        return write(out, seed, length, new AtomicLong());
    }

    /** As {@link #write(OutputStream, long, long)}, counting bytes written into {@code progress}. */
    public static byte[] write(OutputStream out, long seed, long length, AtomicLong progress) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        MessageDigest digest = sha256();
        byte[] chunk = new byte[CHUNK];
        ByteBuffer longs = ByteBuffer.wrap(chunk);
        long remaining = length;
        while (remaining > 0) {
            longs.clear();
            while (longs.remaining() >= Long.BYTES) {
                longs.putLong(random.nextLong());
            }
            int n = (int) Math.min(CHUNK, remaining);
            digest.update(chunk, 0, n);
            out.write(chunk, 0, n);
            remaining -= n;
            progress.addAndGet(n);
        }
        out.flush();
        return digest.digest();
    }

    /** Reads exactly {@code length} bytes (fails on an early end); returns their SHA-256. */
    public static byte[] read(InputStream in, long length) throws IOException {
        return read(in, length, new AtomicLong());
    }

    /** As {@link #read(InputStream, long)}, counting bytes read into {@code progress}. */
    public static byte[] read(InputStream in, long length, AtomicLong progress) throws IOException {
        MessageDigest digest = sha256();
        byte[] buffer = new byte[CHUNK];
        long remaining = length;
        while (remaining > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
            if (n < 0) {
                throw new IOException("stream ended after " + (length - remaining) + " of " + length + " bytes");
            }
            digest.update(buffer, 0, n);
            remaining -= n;
            progress.addAndGet(n);
        }
        return digest.digest();
    }

    /** Reads exactly {@code n} bytes. */
    public static byte[] readExactly(InputStream in, int n) throws IOException {
        byte[] bytes = in.readNBytes(n);
        if (bytes.length != n) {
            throw new IOException("stream ended after " + bytes.length + " of " + n + " bytes");
        }
        return bytes;
    }

    /**
     * {@code bytes} of log-like ASCII text, the same for the same length: what a tunnelled HTTP API or database dump
     * carries, and what deflate shrinks to about a fifth.
     */
    public static byte[] text(int bytes) {
        StringBuilder builder = new StringBuilder(bytes + 200);
        SplittableRandom random = new SplittableRandom(7);
        String[] levels = {"INFO", "WARN", "DEBUG", "ERROR"};
        String[] paths = {"/api/orders", "/api/users/me", "/healthz", "/api/search?q=split", "/static/app.js"};
        for (int i = 0; builder.length() < bytes; i++) {
            builder.append("2026-11-22T01:")
                    .append(10 + i % 50)
                    .append(':')
                    .append(i % 60)
                    .append(".123Z ")
                    .append(levels[random.nextInt(levels.length)])
                    .append(" [http-worker-")
                    .append(random.nextInt(16))
                    .append("] GET ")
                    .append(paths[random.nextInt(paths.length)])
                    .append(" status=200 bytes=")
                    .append(random.nextInt(100_000))
                    .append(" duration_ms=")
                    .append(random.nextInt(500))
                    .append('\n');
        }
        return builder.substring(0, bytes).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }
}
