package dev.splitstream.entry.listener.connect;

import dev.splitstream.bridge.Listeners;
import dev.splitstream.entry.config.ListenSpec;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;

/** HTTP proxy listener that accepts CONNECT only (what browsers, curl and git use for https:// and raw TCP). */
public final class HttpConnectListener {
    private HttpConnectListener() {}

    public static Future<NetServer> start(Vertx vertx, ListenSpec spec, SessionManager manager, EntryMetrics metrics) {
        return Listeners.listen(
                vertx,
                manager.context(),
                spec.bindHost(),
                spec.port(),
                // its request is read before the bridge exists: reads sized by the budget from the first one on
                manager.budget(),
                socket -> new ConnectConnection(vertx, socket, manager, metrics).start());
    }
}
