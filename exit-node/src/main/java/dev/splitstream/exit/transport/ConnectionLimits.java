package dev.splitstream.exit.transport;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.protocol.RateLimitedLog;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.ScheduledFuture;
import io.quarkus.vertx.http.HttpServer;
import io.quarkus.vertx.http.HttpServerStart;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.ext.web.Router;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.event.ObservesAsync;
import jakarta.enterprise.inject.Instance;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Limits on the TCP connections of the exit's HTTP port that Vert.x and Quarkus do not offer: a cap per source address
 * (splitstream.exit.max-connections-per-source) and a deadline for the first request head
 * (splitstream.exit.header-timeout), against slowloris and silent connections. (The idle timeout is Quarkus's own,
 * {@code quarkus.http.idle-timeout}.)
 *
 * <p>Both need to see a connection when it is accepted, before any request, and Quarkus owns the Vert.x server (its
 * connection handler cannot be set). So a handler goes into the Netty <em>server</em> channel's pipeline, ahead of the
 * acceptor: it sees every accepted channel first. That channel is reached from the first request on the port (its
 * connection's parent); at start-up the node sends itself one request so the limits hold from the start.
 */
@ApplicationScoped
public class ConnectionLimits {
    private static final Logger LOG = Logger.getLogger(ConnectionLimits.class);
    private static final RateLimitedLog REFUSALS = RateLimitedLog.of(LOG::warn);
    private static final AttributeKey<Boolean> GUARDED = AttributeKey.valueOf("splitstream.connection-limits");
    private static final AttributeKey<Boolean> REQUEST_SEEN = AttributeKey.valueOf("splitstream.request-seen");

    private final Vertx vertx;
    private final ExitMetrics metrics;
    private final Instance<HttpServer> httpServer;
    private final SourceSlots slots;
    private final long headerTimeoutMillis;
    private final StrictFraming framing;

    public ConnectionLimits(
            Vertx vertx,
            ExitSettings settings,
            ExitMetrics metrics,
            Instance<HttpServer> httpServer,
            StrictFraming framing) {
        this.vertx = vertx;
        this.framing = framing;
        this.metrics = metrics;
        this.httpServer = httpServer;
        this.slots = new SourceSlots(Integer.MAX_VALUE, settings.maxConnectionsPerSource());
        this.headerTimeoutMillis = settings.headerTimeout().toMillis();
    }

    void routes(@Observes Router router) {
        router.route().order(Integer.MIN_VALUE).handler(ctx -> {
            onRequest(ctx.request().connection());
            ctx.next();
        });
    }

    // The self-request that installs the guard before any client's.
    void onHttpStart(@ObservesAsync HttpServerStart event) {
        int port = event.options().getPort();
        if (httpServer.isResolvable() && httpServer.get().getPort() > 0) {
            port = httpServer.get().getPort();
        }
        String host = event.options().getHost();
        if (host == null || host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]")) {
            host = "localhost";
        }
        if (port <= 0) {
            return;
        }
        var client = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout(5_000));
        int p = port;
        String h = host;
        client.request(HttpMethod.GET, p, h, "/splitstream/v1/")
                .compose(req -> req.send())
                .onComplete(ar -> {
                    if (ar.failed()) {
                        LOG.debugf(
                                "self-request to %s:%d failed: %s",
                                h, p, ar.cause().toString());
                    }
                    client.close();
                });
    }

    /** Slots of a source now (for tests). */
    int connectionsOf(String source) {
        return slots.held(source);
    }

    private void onRequest(HttpConnection connection) {
        if (!(connection instanceof ConnectionBase base)) {
            return;
        }
        Channel channel = base.channel();
        channel.attr(REQUEST_SEEN).set(Boolean.TRUE);
        Channel server = channel.parent();
        if (server != null && server.attr(GUARDED).setIfAbsent(Boolean.TRUE) == null) {
            server.pipeline().addFirst("splitstream-connection-limits", new Acceptor());
            LOG.debugf("connection limits on %s", server.localAddress());
        }
    }

    private void refused(String reason, String format, Object... args) {
        metrics.connectionRefused(reason, String.format(java.util.Locale.ROOT, format, args));
        REFUSALS.log(reason, format, args);
    }

    /** Sees each accepted channel (the server channel's inbound messages) before Netty's acceptor registers it. */
    @ChannelHandler.Sharable
    private final class Acceptor extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof Channel child)) {
                ctx.fireChannelRead(msg);
                return;
            }
            String source = child.remoteAddress() instanceof InetSocketAddress a
                    ? a.getAddress().getHostAddress()
                    : String.valueOf(child.remoteAddress());
            if (slots.acquire(source) != SourceSlots.Refusal.NONE) {
                child.unsafe().closeForcibly();
                refused(
                        "connections_per_source",
                        "connection from %s closed: it already holds %d connections (max-connections-per-source)",
                        source,
                        slots.maxPerSource());
                return;
            }
            ScheduledFuture<?> deadline = ctx.executor()
                    .schedule(
                            () -> {
                                if (child.isOpen() && child.attr(REQUEST_SEEN).get() == null) {
                                    refused(
                                            "header_timeout",
                                            "connection from %s closed: no complete request head within %dms",
                                            source,
                                            headerTimeoutMillis);
                                    child.close();
                                }
                            },
                            headerTimeoutMillis,
                            TimeUnit.MILLISECONDS);
            child.closeFuture().addListener(f -> {
                deadline.cancel(false);
                slots.release(source);
            });
            framing.install(child);
            ctx.fireChannelRead(child);
        }
    }
}
