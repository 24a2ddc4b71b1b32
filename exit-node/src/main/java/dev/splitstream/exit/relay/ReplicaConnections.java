package dev.splitstream.exit.relay;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The TCP clients a replica opens connections to other replicas with (relayed upgrades in {@link LegRelay}, relayed
 * public connections and routes in {@link ExposeRelay}): one for plain and one for TLS replica URLs, created on first
 * use (a single exit node never needs them) and closed with the node. TCP_NODELAY, a 5 s connect timeout, and TLS
 * hosts verified by name. Thread-safe: the fields are volatile and written once under the lock.
 */
@ApplicationScoped
public class ReplicaConnections {
    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;

    private final Vertx vertx;
    private volatile NetClient plain;
    private volatile NetClient tls;

    public ReplicaConnections(Vertx vertx) {
        this.vertx = vertx;
    }

    /** The client for replica URLs with ({@code https}) or without TLS. */
    NetClient client(boolean useTls) {
        NetClient c = useTls ? tls : plain;
        if (c != null) {
            return c;
        }
        synchronized (this) {
            c = useTls ? tls : plain;
            if (c == null) {
                c = vertx.createNetClient(new NetClientOptions()
                        .setTcpNoDelay(true)
                        .setConnectTimeout(CONNECT_TIMEOUT_MILLIS)
                        .setSsl(useTls)
                        .setHostnameVerificationAlgorithm(useTls ? "HTTPS" : ""));
                if (useTls) {
                    tls = c;
                } else {
                    plain = c;
                }
            }
            return c;
        }
    }

    @PreDestroy
    synchronized void close() {
        if (plain != null) {
            plain.close();
            plain = null;
        }
        if (tls != null) {
            tls.close();
            tls = null;
        }
    }
}
