package dev.splitstream.bridge;

import dev.splitstream.protocol.ResetCode;
import io.netty.channel.ConnectTimeoutException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Connects targets, asynchronously, only where an allow-list permits. A host name is resolved once, on a worker
 * thread; the resolved address is what is checked and what is dialed, so a DNS answer cannot smuggle in an address
 * that was not allowed. Names no rule could ever allow are refused without a DNS query. Call {@link #dial} on the
 * session's context: the socket's callbacks then run there too. Dialed sockets come back ready for a
 * {@link SocketBridge}: TCP_NODELAY, half-close allowed, not reading yet.
 */
public final class Dialer {
    private final Vertx vertx;
    private final Duration timeout;
    private volatile NetClient client;

    public Dialer(Vertx vertx, Duration timeout) {
        this.vertx = vertx;
        this.timeout = timeout;
    }

    private NetClient client() {
        NetClient c = client;
        if (c == null) {
            synchronized (this) {
                if (client == null) {
                    client = vertx.createNetClient(new NetClientOptions()
                            .setTcpNoDelay(true)
                            .setTcpKeepAlive(true)
                            .setConnectTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis())));
                }
                c = client;
            }
        }
        return c;
    }

    /** Closes the client (node shutdown). */
    public void close() {
        NetClient c = client;
        if (c != null) {
            c.close();
        }
    }

    /**
     * Checks and dials {@code host:port} for {@code who} (a token id or an agent's name, only used in messages).
     *
     * @return the connected socket, or a failed future with a {@link DialException}
     */
    public Future<NetSocket> dial(String host, int port, AllowList allow, String who) {
        String target = display(host, port);
        DialException notAllowed =
                new DialException(ResetCode.NOT_ALLOWED, "target " + target + " is not allowed for " + who);
        if (port < 1 || port > 65535) {
            return Future.failedFuture(new DialException(ResetCode.CONNECT_FAILED, "bad port in " + target));
        }
        Optional<InetAddress> literal = IpLiterals.parse(host);
        if (literal.isPresent()) {
            if (!allow.allowsAddress(literal.get(), port)) {
                return Future.failedFuture(notAllowed);
            }
            return connect(literal.get(), port, target);
        }
        if (!allow.allowsName(host, port) && !allow.hasAddressRuleFor(port)) {
            return Future.failedFuture(notAllowed);
        }
        return vertx.<List<InetAddress>>executeBlocking(() -> resolve(host, target), false)
                .compose(addresses -> allow.choose(host, port, addresses)
                        .map(address -> connect(address, port, target))
                        .orElseGet(() -> Future.failedFuture(notAllowed)));
    }

    private static List<InetAddress> resolve(String host, String target) {
        try {
            return Arrays.asList(InetAddress.getAllByName(host));
        } catch (UnknownHostException e) {
            throw new DialException(
                    ResetCode.UNKNOWN_HOST, "host " + host + " of target " + target + " does not resolve");
        }
    }

    private Future<NetSocket> connect(InetAddress address, int port, String target) {
        return client().connect(SocketAddress.inetSocketAddress(port, address.getHostAddress()))
                .map(socket -> {
                    // Runs as the connection completes, before any read: nothing is read until the bridge starts.
                    SocketBridge.configure(socket);
                    SocketBridge.reading(socket, false);
                    return socket;
                })
                .recover(t -> Future.failedFuture(classify(t, address, port, target)));
    }

    private DialException classify(Throwable t, InetAddress address, int port, String target) {
        String resolved = display(address.getHostAddress(), port);
        String via = resolved.equals(target) ? target : target + " (" + resolved + ")";
        if (t instanceof ConnectTimeoutException) {
            return new DialException(
                    ResetCode.TIMEOUT, "connecting to " + via + " timed out after " + timeout.toMillis() + "ms");
        }
        if (t instanceof ConnectException) {
            return new DialException(ResetCode.CONNECT_FAILED, "connection to " + via + " refused");
        }
        return new DialException(ResetCode.CONNECT_FAILED, "connecting to " + via + " failed: " + t.getMessage());
    }

    /** host:port, with brackets around IPv6 literals. */
    public static String display(String host, int port) {
        return (host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
    }
}
