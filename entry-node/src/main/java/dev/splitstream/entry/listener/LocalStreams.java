package dev.splitstream.entry.listener;

import dev.splitstream.bridge.Dialer;
import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import io.vertx.core.net.NetSocket;

/** A local client's connection becomes a stream to its target through the session. */
public final class LocalStreams {
    private LocalStreams() {}

    /**
     * Bridges {@code socket} to a new stream to {@code host:port}. Call on the socket's thread; the socket reads
     * nothing until the exit node accepted, then {@code replies} answer the client.
     */
    public static SocketBridge open(
            NetSocket socket,
            SessionManager manager,
            EntryMetrics metrics,
            String host,
            int port,
            SocketBridge.Replies replies) {
        String target = Dialer.display(host, port);
        SocketBridge bridge = new SocketBridge(socket, "local connection", target, metrics.local(), replies);
        bridge.open(endpoint -> manager.open(host, port, endpoint));
        return bridge;
    }
}
