package dev.splitstream.entry.listener.forward;

import dev.splitstream.bridge.Listeners;
import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.entry.config.ForwardSpec;
import dev.splitstream.entry.listener.LocalStreams;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;

/** A fixed forward: every connection to the local port becomes a stream to one target. */
public final class ForwardListener {
    private ForwardListener() {}

    public static Future<NetServer> start(Vertx vertx, ForwardSpec spec, SessionManager manager, EntryMetrics metrics) {
        return Listeners.listen(
                vertx,
                manager.context(),
                spec.listen().bindHost(),
                spec.listen().port(),
                socket -> LocalStreams.open(
                        socket,
                        manager,
                        metrics,
                        spec.target().host(),
                        spec.target().port(),
                        SocketBridge.PLAIN));
    }
}
