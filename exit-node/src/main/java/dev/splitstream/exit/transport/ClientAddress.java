package dev.splitstream.exit.transport;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;

/** The source address that per-source limits count by. */
public final class ClientAddress {
    private ClientAddress() {}

    /**
     * The client's IP address as text. It is the TCP peer, unless {@code quarkus.http.proxy.proxy-address-forwarding}
     * is on, in which case Quarkus has replaced it with the one a trusted proxy put in its Forwarded headers.
     */
    public static String of(HttpServerRequest request) {
        SocketAddress a = request.remoteAddress();
        if (a == null) {
            return "unknown";
        }
        String host = a.hostAddress();
        return host != null ? host : a.toString();
    }
}
