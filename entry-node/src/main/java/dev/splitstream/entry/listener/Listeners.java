package dev.splitstream.entry.listener;

import dev.splitstream.entry.config.ListenSpec;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;

/** Starts the local TCP servers the listeners share. */
public final class Listeners {
    private Listeners() {}

    /**
     * A TCP server on {@code spec}, TCP_NODELAY on every accepted socket. Started outside any context, Vert.x gives
     * each server its own event loop, so listeners run apart from the session's event loop.
     */
    public static Future<NetServer> listen(Vertx vertx, ListenSpec spec, Handler<NetSocket> handler) {
        NetServerOptions options = new NetServerOptions()
                .setHost(spec.bindHost())
                .setPort(spec.port())
                .setTcpNoDelay(true)
                .setReuseAddress(true);
        return vertx.createNetServer(options)
                .connectHandler(socket -> {
                    LocalTunnel.configure(socket);
                    handler.handle(socket);
                })
                .listen();
    }
}
