package dev.splitstream.entry.listener.socks;

import dev.splitstream.bridge.Listeners;
import dev.splitstream.entry.config.EntrySettings.SocksAuth;
import dev.splitstream.entry.config.ListenSpec;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import java.util.Optional;

/** SOCKS5 listener: CONNECT to IPv4, IPv6 or domain targets, optionally with user name/password (RFC 1929). */
public final class SocksListener {
    private SocksListener() {}

    public static Future<NetServer> start(
            Vertx vertx, ListenSpec spec, Optional<SocksAuth> auth, SessionManager manager, EntryMetrics metrics) {
        return Listeners.listen(
                vertx,
                manager.context(),
                spec.bindHost(),
                spec.port(),
                // its request is read before the bridge exists: reads sized by the budget from the first one on
                manager.budget(),
                socket -> new SocksConnection(vertx, socket, auth, manager, metrics).start());
    }
}
