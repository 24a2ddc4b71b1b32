package dev.splitstream.exit.route;

import io.vertx.core.buffer.Buffer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A routed request as the bytes its service reads (RFC 9112): the head written straight into an array, and the body's
 * chunks framed when the request is chunked. Netty's {@code HttpRequestEncoder} did this through a
 * {@code DefaultHttpRequest}, its headers object, a pooled buffer and a copy out of it into the array the stream keeps,
 * about 6% of the exit's event-loop samples in {@code bench/routes.sh}; what it wrote is no more than this.
 *
 * <p>Names and values are written as Netty writes them: each char as one byte, {@code ?} for a char above 255. They
 * come from Vert.x's decoder (which refused control characters and line breaks) or from the exit itself.
 *
 * <p>One per {@link ServiceConnection}, used by the exchange it serves, on that exchange's thread.
 */
final class RequestBytes {
    private static final byte[] VERSION = " HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);

    private byte[] buf = new byte[1024];
    private int len;

    /** Starts a head: {@code METHOD SP target SP HTTP/1.1 CRLF}. */
    RequestBytes start(String method, String target) {
        len = 0;
        ascii(method);
        room(1);
        buf[len++] = ' ';
        ascii(target);
        room(VERSION.length);
        System.arraycopy(VERSION, 0, buf, len, VERSION.length);
        len += VERSION.length;
        return this;
    }

    /** One header line. */
    RequestBytes header(CharSequence name, CharSequence value) {
        ascii(name);
        room(2);
        buf[len++] = ':';
        buf[len++] = ' ';
        ascii(value);
        crlf();
        return this;
    }

    /** The head so far and its closing empty line, in an array of its own (the stream keeps it until acknowledged). */
    ByteBuffer end() {
        crlf();
        return ByteBuffer.wrap(Arrays.copyOf(buf, len));
    }

    /** {@code data} as the service reads it: as it is, or as one chunk of a chunked body. */
    static ByteBuffer body(Buffer data, boolean chunked) {
        int n = data.length();
        if (!chunked) {
            // Vert.x hands each request chunk over in a heap buffer of its own: the stream may keep it as it is
            return data.getByteBuf().nioBuffer();
        }
        byte[] size = Integer.toHexString(n).getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[size.length + 2 + n + 2];
        System.arraycopy(size, 0, out, 0, size.length);
        int at = size.length;
        out[at++] = '\r';
        out[at++] = '\n';
        data.getBytes(0, n, out, at);
        at += n;
        out[at++] = '\r';
        out[at] = '\n';
        return ByteBuffer.wrap(out);
    }

    /** The end of a body: the last chunk of a chunked one (no trailers), nothing otherwise. */
    static ByteBuffer end(boolean chunked) {
        return chunked ? ByteBuffer.wrap(new byte[] {'0', '\r', '\n', '\r', '\n'}) : ByteBuffer.allocate(0);
    }

    private void crlf() {
        room(2);
        buf[len++] = '\r';
        buf[len++] = '\n';
    }

    private void ascii(CharSequence s) {
        int n = s.length();
        room(n);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            buf[len++] = (byte) (c < 256 ? c : '?');
        }
    }

    private void room(int n) {
        if (len + n > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
        }
    }
}
