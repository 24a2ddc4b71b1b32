package dev.splitstream.bridge;

import dev.splitstream.protocol.BufferBudget;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.impl.ContextInternal;
import io.vertx.core.impl.VertxInternal;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;

/** TCP servers whose accepted sockets are ready for a {@link SocketBridge}. */
public final class Listeners {
    private Listeners() {}

    /**
     * A TCP server on {@code host:port} (port 0: any free port); every accepted socket gets TCP_NODELAY and half-close
     * ({@link SocketBridge#configure}) before {@code handler} sees it. Each server gets an event loop of its own (the
     * next of Vert.x's pool), whichever thread calls this: a server started from a session's context would otherwise
     * run all its connections on that session's event loop.
     */
    public static Future<NetServer> listen(Vertx vertx, String host, int port, Handler<NetSocket> handler) {
        ContextInternal own = ((VertxInternal) vertx).createEventLoopContext();
        return listen(vertx, own, host, port, handler);
    }

    /**
     * As {@link #listen(Vertx, String, int, Handler)}, but listening from {@code context}, so every accepted socket
     * lives on that context's event loop. Given a session's context, a byte goes socket → stream → transport without
     * waking another thread ({@link SocketBridge} runs its hops inline on one thread); a hop between event loops cost
     * tens of microseconds per message, about a third of a 1-byte round trip through the tunnel.
     */
    public static Future<NetServer> listen(
            Vertx vertx, Context context, String host, int port, Handler<NetSocket> handler) {
        return listen(vertx, context, host, port, null, handler);
    }

    /**
     * As {@link #listen(Vertx, Context, String, int, Handler)}, for listeners whose sockets read a request before their
     * {@link SocketBridge} exists (SOCKS5, HTTP CONNECT): every read takes at most one share of {@code budget} from the
     * socket's first read on ({@link SocketBridge#configure(NetSocket, BufferBudget)}).
     */
    public static Future<NetServer> listen(
            Vertx vertx, Context context, String host, int port, BufferBudget budget, Handler<NetSocket> handler) {
        Promise<NetServer> listening = Promise.promise();
        context.runOnContext(
                v -> server(vertx, host, port, budget, handler).listen().onComplete(listening));
        return listening.future();
    }

    private static NetServer server(
            Vertx vertx, String host, int port, BufferBudget budget, Handler<NetSocket> handler) {
        NetServerOptions options = new NetServerOptions()
                .setHost(host)
                .setPort(port)
                .setTcpNoDelay(true)
                .setReuseAddress(true);
        return vertx.createNetServer(options).connectHandler(socket -> {
            if (budget == null) {
                SocketBridge.configure(socket);
            } else {
                SocketBridge.configure(socket, budget);
            }
            handler.handle(socket);
        });
    }
}
