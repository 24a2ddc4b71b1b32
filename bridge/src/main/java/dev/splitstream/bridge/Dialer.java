package dev.splitstream.bridge;

import dev.splitstream.protocol.ResetCode;
import io.netty.channel.ConnectTimeoutException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.net.TrustOptions;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLException;

/**
 * Connects targets, asynchronously, only where an allow-list permits. A host name is resolved once, on a worker
 * thread; the resolved address is what is checked and what is dialed, so a DNS answer cannot smuggle in an address
 * that was not allowed. Names no rule could ever allow are refused without a DNS query. Call {@link #dial} on the
 * session's context: the socket's callbacks then run there too. Dialed sockets come back ready for a
 * {@link SocketBridge}: TCP_NODELAY, half-close allowed, not reading yet. A TLS dialer ({@link #tls}) completes the
 * TLS handshake, with the server certificate verified against the target's host name or IP address, before it hands
 * the socket over: the bridge then carries plain bytes.
 */
public final class Dialer {
    private final Vertx vertx;
    private final Duration timeout;
    private final boolean tls;
    private final TrustOptions trust;
    private volatile NetClient client;

    public Dialer(Vertx vertx, Duration timeout) {
        this(vertx, timeout, false, null);
    }

    private Dialer(Vertx vertx, Duration timeout, boolean tls, TrustOptions trust) {
        this.vertx = vertx;
        this.timeout = timeout;
        this.tls = tls;
        this.trust = trust;
    }

    /**
     * A dialer that speaks TLS to its targets and verifies their certificates (host name or IP address, as dialed).
     *
     * @param trust the CAs to trust; null for the JVM's default CAs
     */
    public static Dialer tls(Vertx vertx, Duration timeout, TrustOptions trust) {
        return new Dialer(vertx, timeout, true, trust);
    }

    private NetClient client() {
        NetClient c = client;
        if (c == null) {
            synchronized (this) {
                if (client == null) {
                    NetClientOptions options = new NetClientOptions()
                            .setTcpNoDelay(true)
                            .setTcpKeepAlive(true)
                            .setConnectTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
                    if (tls) {
                        options.setSsl(true)
                                .setHostnameVerificationAlgorithm("HTTPS")
                                .setSslHandshakeTimeout(Math.max(1, timeout.toMillis()))
                                .setSslHandshakeTimeoutUnit(java.util.concurrent.TimeUnit.MILLISECONDS);
                        if (trust != null) {
                            options.setTrustOptions(trust);
                        }
                    }
                    client = vertx.createNetClient(options);
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
            return connect(literal.get(), host, port, target);
        }
        if (!allow.allowsName(host, port) && !allow.hasAddressRuleFor(port)) {
            return Future.failedFuture(notAllowed);
        }
        return vertx.<List<InetAddress>>executeBlocking(() -> resolve(host, target), false)
                .compose(addresses -> allow.choose(host, port, addresses)
                        .map(address -> connect(address, host, port, target))
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

    private Future<NetSocket> connect(InetAddress address, String host, int port, String target) {
        SocketAddress remote = SocketAddress.inetSocketAddress(port, address.getHostAddress());
        // TLS: the certificate must name the host as the target named it (a name, or the IP literal).
        Future<NetSocket> connected = tls ? client().connect(remote, unbracket(host)) : client().connect(remote);
        return connected
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
        if (tls && (t instanceof SSLException || t.getCause() instanceof SSLException)) {
            SSLException e = t instanceof SSLException s ? s : (SSLException) t.getCause();
            return new DialException(ResetCode.CONNECT_FAILED, "TLS with " + via + " failed: " + rootMessage(e));
        }
        return new DialException(ResetCode.CONNECT_FAILED, "connecting to " + via + " failed: " + t.getMessage());
    }

    private static String unbracket(String host) {
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    }

    /** host:port, with brackets around IPv6 literals. */
    public static String display(String host, int port) {
        return (host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
    }
}
