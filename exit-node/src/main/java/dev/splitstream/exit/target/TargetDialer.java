package dev.splitstream.exit.target;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.protocol.ResetCode;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.quarkus.runtime.ShutdownEvent;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.net.impl.NetSocketInternal;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Connects targets, asynchronously, only where the allow-list permits. A host name is resolved once, on a worker
 * thread; the resolved address is what is checked and what is dialed. Names no rule could ever allow are refused
 * without a DNS query. Call {@link #dial} on the session's context: the socket's callbacks then run there too.
 */
@ApplicationScoped
public class TargetDialer {
    private final Vertx vertx;
    private final ExitSettings settings;
    private volatile NetClient client;

    public TargetDialer(Vertx vertx, ExitSettings settings) {
        this.vertx = vertx;
        this.settings = settings;
    }

    private NetClient client() {
        NetClient c = client;
        if (c == null) {
            synchronized (this) {
                if (client == null) {
                    client = vertx.createNetClient(new NetClientOptions()
                            .setTcpNoDelay(true)
                            .setTcpKeepAlive(true)
                            .setConnectTimeout((int) Math.min(
                                    Integer.MAX_VALUE, settings.dialTimeout().toMillis())));
                }
                c = client;
            }
        }
        return c;
    }

    void onStop(@Observes ShutdownEvent event) {
        NetClient c = client;
        if (c != null) {
            c.close();
        }
    }

    /**
     * Checks and dials {@code host:port} for {@code tokenId}.
     *
     * @return the connected socket (TCP_NODELAY, half-close enabled), or a failed future with a {@link DialException}
     */
    public Future<NetSocket> dial(String host, int port, AllowList allow, String tokenId) {
        String target = display(host, port);
        DialException notAllowed =
                new DialException(ResetCode.NOT_ALLOWED, "target " + target + " is not allowed for token " + tokenId);
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
                    if (socket instanceof NetSocketInternal internal) {
                        // Lets a target's FIN arrive as an event instead of closing the socket, so the entry side can
                        // still send (TCP half-close).
                        internal.channelHandlerContext()
                                .channel()
                                .config()
                                .setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
                    }
                    return socket;
                })
                .recover(t -> Future.failedFuture(classify(t, address, port, target)));
    }

    private DialException classify(Throwable t, InetAddress address, int port, String target) {
        String resolved = display(address.getHostAddress(), port);
        String via = resolved.equals(target) ? target : target + " (" + resolved + ")";
        if (t instanceof ConnectTimeoutException) {
            return new DialException(
                    ResetCode.TIMEOUT,
                    "connecting to " + via + " timed out after "
                            + settings.dialTimeout().toMillis() + "ms");
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
