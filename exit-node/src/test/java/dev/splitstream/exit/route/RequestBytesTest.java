package dev.splitstream.exit.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.vertx.core.buffer.Buffer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class RequestBytesTest {
    private static String text(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return new String(a, StandardCharsets.ISO_8859_1);
    }

    /** A head of {@code method} and {@code target} with {@code headers} (name, value, name, value, ...) from {@code w}. */
    private static ByteBuffer head(RequestBytes w, String method, String target, String... headers) {
        w.start(method, target);
        for (int i = 0; i < headers.length; i += 2) {
            w.header(headers[i], headers[i + 1]);
        }
        return w.end();
    }

    @Test
    void aHeadIsTheRequestLineItsHeadersAndAnEmptyLine() {
        RequestBytes w = new RequestBytes();
        ByteBuffer head = head(w, "GET", "/a?b=c", "Accept", "*/*", "host", "svc:80");
        assertThat(text(head)).isEqualTo("GET /a?b=c HTTP/1.1\r\nAccept: */*\r\nhost: svc:80\r\n\r\n");
        // the writer starts afresh for the next head, and the first head's array is its own
        ByteBuffer next = head(w, "POST", "/x", "X-Long", "v".repeat(5000));
        assertThat(text(head)).startsWith("GET /a?b=c");
        assertThat(text(next)).startsWith("POST /x HTTP/1.1\r\nX-Long: vvv").endsWith("v\r\n\r\n");
    }

    @Test
    void charsAreWrittenAsNettyWritesThem() {
        // obs-text arrives from Vert.x's decoder as one char per byte and leaves as that byte; a char above 255 as '?'
        ByteBuffer head = head(new RequestBytes(), "GET", "/", "X-Name", "caf\u00e9 \u20ac");
        assertThat(text(head)).contains("X-Name: caf\u00e9 ?\r\n");
    }

    @Test
    void whatItWritesParsesBackWithNettysDecoder() {
        ByteBuffer head = head(
                new RequestBytes(), "PUT", "/up/f.txt", "Content-Type", "text/plain", "transfer-encoding", "chunked");
        EmbeddedChannel decoder = new EmbeddedChannel(new HttpRequestDecoder());
        decoder.writeInbound(Unpooled.wrappedBuffer(head));
        decoder.writeInbound(Unpooled.wrappedBuffer(RequestBytes.body(Buffer.buffer("hello"), true)));
        decoder.writeInbound(Unpooled.wrappedBuffer(RequestBytes.body(Buffer.buffer("x".repeat(300)), true)));
        decoder.writeInbound(Unpooled.wrappedBuffer(RequestBytes.end(true)));
        HttpRequest r = decoder.readInbound();
        assertThat(r.decoderResult().isSuccess()).isTrue();
        assertThat(r.method()).isEqualTo(HttpMethod.PUT);
        assertThat(r.uri()).isEqualTo("/up/f.txt");
        assertThat(r.headers().get("Content-Type")).isEqualTo("text/plain");
        StringBuilder body = new StringBuilder();
        Object m;
        boolean last = false;
        while ((m = decoder.readInbound()) != null) {
            HttpContent c = (HttpContent) m;
            body.append(c.content().toString(StandardCharsets.US_ASCII));
            last |= c instanceof LastHttpContent;
            c.release();
        }
        assertThat(body.toString()).isEqualTo("hello" + "x".repeat(300));
        assertThat(last).isTrue();
        decoder.finishAndReleaseAll();
    }

    @Test
    void aBodyThatIsNotChunkedPassesAsItIsAndEndsInNothing() {
        assertThat(text(RequestBytes.body(Buffer.buffer("abc"), false))).isEqualTo("abc");
        assertThat(RequestBytes.end(false).remaining()).isZero();
        assertThat(text(RequestBytes.end(true))).isEqualTo("0\r\n\r\n");
        assertThat(text(RequestBytes.body(Buffer.buffer("x".repeat(26)), true)))
                .isEqualTo("1a\r\n" + "x".repeat(26) + "\r\n");
    }

    @Test
    void theRequestTargetIsWhatNettysEncoderWrote() {
        for (String uri : new String[] {"", "/", "/a?b", "http://h", "http://h?q=1", "http://h/p?q", "*", "h:443"}) {
            EmbeddedChannel encoder = new EmbeddedChannel(new io.netty.handler.codec.http.HttpRequestEncoder());
            encoder.writeOutbound(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri));
            StringBuilder out = new StringBuilder();
            io.netty.buffer.ByteBuf b;
            while ((b = encoder.readOutbound()) != null) {
                out.append(b.toString(StandardCharsets.US_ASCII));
                b.release();
            }
            String line = out.substring(0, out.indexOf("\r\n"));
            assertThat("GET " + RouteExchange.requestTarget(uri) + " HTTP/1.1")
                    .as("target of %s", uri)
                    .isEqualTo(line);
            encoder.finishAndReleaseAll();
        }
    }

    @Test
    void aChunkedBodyChunkKeepsItsBytes() {
        byte[] all = new byte[256];
        for (int i = 0; i < all.length; i++) {
            all[i] = (byte) i;
        }
        ByteBuffer framed = RequestBytes.body(Buffer.buffer(all), true);
        byte[] a = new byte[framed.remaining()];
        framed.get(a);
        assertThat(new String(a, 0, 5, StandardCharsets.US_ASCII)).isEqualTo("100\r\n");
        assertThat(java.util.Arrays.copyOfRange(a, 5, 5 + 256)).isEqualTo(all);
    }
}
