package dev.splitstream.entry.listener.forward;

import dev.splitstream.entry.config.ForwardSpec;
import dev.splitstream.entry.listener.Listeners;
import dev.splitstream.entry.listener.LocalTunnel;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import dev.splitstream.protocol.ResetCode;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;

/** A fixed forward: every connection to the local port becomes a stream to one target. */
public final class ForwardListener {
    private ForwardListener() {}

    private static final LocalTunnel.Callbacks CALLBACKS = new LocalTunnel.Callbacks() {
        @Override
        public void accepted(LocalTunnel tunnel) {
            tunnel.relay(null);
        }

        @Override
        public void refused(LocalTunnel tunnel, ResetCode code, String message) {
            // A plain TCP client has no way to learn why: the connection just closes (logged as WARN).
        }
    };

    public static Future<NetServer> start(Vertx vertx, ForwardSpec spec, SessionManager manager, EntryMetrics metrics) {
        return Listeners.listen(vertx, manager.context(), spec.listen(), socket -> new LocalTunnel(
                        socket,
                        manager,
                        metrics,
                        spec.target().host(),
                        spec.target().port(),
                        CALLBACKS)
                .open());
    }
}
