package dev.splitstream.exit.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpMessage;
import io.quarkus.vertx.http.HttpServerOptionsCustomizer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.impl.VertxHttpRequestDecoder;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * A request that carries both {@code Content-Length} and {@code Transfer-Encoding: chunked} (the shape of request
 * smuggling) is answered {@code 400} and its connection closed, as RFC 9112 6.3 allows: a proxy in front of the exit
 * that framed the body by its length would otherwise see a different request boundary than the exit and the agent's
 * service.
 *
 * <p>Netty's HTTP/1.1 decoder drops the {@code Content-Length} of such a request before anything behind it can see the
 * request ({@code HttpObjectDecoder.handleTransferEncodingChunkedWithContentLength}), and no option of it or of Vert.x
 * changes that. So each accepted connection ({@link ConnectionLimits} sees them all) gets Vert.x's own decoder with that
 * one method overridden: it marks the request as failed to decode, and Vert.x's invalid-request handling answers
 * {@code 400 Bad Request} with {@code Connection: close} and closes. Vert.x adds its decoder when the connection's
 * first bytes arrive when it must tell HTTP/1.1 from HTTP/2 first, so the swap happens on the first read that finds it,
 * once per connection; requests cost nothing more.
 */
@ApplicationScoped
public class StrictFraming implements HttpServerOptionsCustomizer {
    /** Vert.x's name of the HTTP/1.x request decoder in a connection's pipeline. */
    static final String DECODER = "httpDecoder";

    private static final String INSTALLER = "splitstream-strict-framing";

    private volatile HttpServerOptions httpOptions;
    private volatile HttpServerOptions httpsOptions;

    @Override
    public void customizeHttpServer(HttpServerOptions options) {
        httpOptions = options;
    }

    @Override
    public void customizeHttpsServer(HttpServerOptions options) {
        httpsOptions = options;
    }

    /** Puts the swap on {@code child}, an accepted connection not yet registered (its pipeline still empty). */
    void install(Channel child) {
        HttpServerOptions options = httpOptions != null ? httpOptions : httpsOptions;
        if (options == null) {
            return;
        }
        child.pipeline().addFirst(INSTALLER, new Installer(options));
    }

    /** Vert.x's decoder, except that it refuses a request with both a length and a chunked body. */
    static final class Decoder extends VertxHttpRequestDecoder {
        Decoder(HttpServerOptions options) {
            super(options);
        }

        @Override
        protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
            super.handleTransferEncodingChunkedWithContentLength(message);
            message.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(
                    "a request must not carry both Content-Length and Transfer-Encoding (RFC 9112 6.3)")));
        }
    }

    /**
     * Replaces Vert.x's decoder with {@link Decoder} on the first read that finds it, then leaves the pipeline. When
     * the first read comes before the decoder (Vert.x first looks at the bytes to tell HTTP/1.1 from HTTP/2), it moves
     * to the pipeline's end, where it runs once more right after Vert.x installed its handlers behind it.
     */
    private static final class Installer extends ChannelInboundHandlerAdapter {
        private final HttpServerOptions options;
        private boolean moved;

        Installer(HttpServerOptions options) {
            this.options = options;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ChannelPipeline pipeline = ctx.pipeline();
            ChannelHandler decoder = pipeline.get(DECODER);
            if (decoder != null) {
                if (!(decoder instanceof Decoder)) {
                    pipeline.replace(DECODER, DECODER, new Decoder(options));
                }
                pipeline.remove(this);
            } else if (!moved) {
                pipeline.remove(this);
                Installer later = new Installer(options);
                later.moved = true;
                pipeline.addLast(INSTALLER, later);
            } else {
                pipeline.remove(this); // no HTTP/1.x on this connection (HTTP/2): nothing to swap
            }
            ctx.fireChannelRead(msg);
        }
    }
}
