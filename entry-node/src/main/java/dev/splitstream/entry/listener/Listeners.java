package dev.splitstream.entry.listener;

import dev.splitstream.entry.config.ListenSpec;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;

/** Starts the local TCP servers the listeners share. */
public final class Listeners {
    private Listeners() {}

    /**
     * A TCP server on {@code spec}, TCP_NODELAY on every accepted socket. Listening from the session's {@code context}
     * puts every accepted socket on the session's event loop: a byte then goes from socket to stream to WebSocket
     * without waking another thread (each hop between event loops cost tens of microseconds per message, a third of a
     * 1-byte round trip through the tunnel).
     */
    public static Future<NetServer> listen(Vertx vertx, Context context, ListenSpec spec, Handler<NetSocket> handler) {
        NetServerOptions options = new NetServerOptions()
                .setHost(spec.bindHost())
                .setPort(spec.port())
                .setTcpNoDelay(true)
                .setReuseAddress(true);
        Promise<NetServer> listening = Promise.promise();
        context.runOnContext(v -> vertx.createNetServer(options)
                .connectHandler(socket -> {
                    LocalTunnel.configure(socket);
                    handler.handle(socket);
                })
                .listen()
                .onComplete(listening));
        return listening.future();
    }
}
