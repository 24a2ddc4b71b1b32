package dev.splitstream.bridge;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;

/** TCP servers whose accepted sockets are ready for a {@link SocketBridge}. */
public final class Listeners {
    private Listeners() {}

    /**
     * A TCP server on {@code host:port} (port 0: any free port); every accepted socket gets TCP_NODELAY and half-close
     * ({@link SocketBridge#configure}) before {@code handler} sees it. Started outside any context, Vert.x gives each
     * server its own event loop, so listeners run apart from the sessions' event loops.
     */
    public static Future<NetServer> listen(Vertx vertx, String host, int port, Handler<NetSocket> handler) {
        NetServerOptions options = new NetServerOptions()
                .setHost(host)
                .setPort(port)
                .setTcpNoDelay(true)
                .setReuseAddress(true);
        return vertx.createNetServer(options)
                .connectHandler(socket -> {
                    SocketBridge.configure(socket);
                    handler.handle(socket);
                })
                .listen();
    }
}
