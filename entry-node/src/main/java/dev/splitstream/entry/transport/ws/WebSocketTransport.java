package dev.splitstream.entry.transport.ws;

import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.config.ProxySpec;
import dev.splitstream.entry.config.ServerEndpoint;
import dev.splitstream.entry.transport.Transport;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameProtection;
import dev.splitstream.protocol.Limits;
import io.netty.buffer.Unpooled;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.net.ProxyOptions;
import io.vertx.core.net.ProxyType;
import io.vertx.core.net.TrustOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Opens WebSocket connections to the exit node, with Vert.x's own {@link WebSocketClient} rather than the
 * websockets-next client: the session needs the raw {@link WebSocket} (writeQueueFull, pause/resume, close codes) and
 * its callbacks on the one event loop the session lives on, while websockets-next's connection only offers
 * {@code Uni}-returning sends on its own execution model; proxy and trust settings would have gone through its
 * {@code customizeOptions} escape hatch into these very Vert.x options anyway.
 */
public final class WebSocketTransport implements Transport {
    /** WebSocket subprotocol of this protocol version. */
    public static final String SUBPROTOCOL = "splitstream.v1";

    /**
     * Largest DATA payload the entry sends, so that a frame plus its header, sealed (header and tag of the envelope),
     * fits one WebSocket frame of 64 KiB: the default inbound frame limit of Vert.x and websockets-next servers (a
     * larger frame closes the connection with "Max frame length of 65536 has been exceeded").
     */
    public static final int MAX_SEND_PAYLOAD = 65_536 - FrameCodec.HEADER_LENGTH - FrameProtection.OVERHEAD;

    /** Time allowed for TCP connect plus the HTTP upgrade (and the proxy's CONNECT). */
    static final int CONNECT_TIMEOUT_MILLIS = 10_000;

    private final ServerEndpoint server;
    private final WebSocketClient client;
    private final WebSocketConnectOptions connectOptions;

    /** A transport to {@code server} (the single server, or one leg of a split path). */
    public WebSocketTransport(Vertx vertx, EntrySettings settings, ServerEndpoint server) {
        this.server = server;
        WebSocketClientOptions options = new WebSocketClientOptions()
                .setTcpNoDelay(true)
                .setTcpKeepAlive(true)
                .setConnectTimeout(CONNECT_TIMEOUT_MILLIS)
                // Inbound frames may be as large as the largest protocol frame an exit node may send. Vert.x also
                // splits outbound messages at this size, so outbound frames are kept small by MAX_SEND_PAYLOAD.
                .setMaxFrameSize(Limits.HARD_MAX_PAYLOAD + FrameCodec.HEADER_LENGTH + FrameProtection.OVERHEAD)
                .setMaxMessageSize(Limits.HARD_MAX_PAYLOAD + FrameCodec.HEADER_LENGTH + FrameProtection.OVERHEAD)
                .setClosingTimeout(2)
                .setVerifyHost(true)
                .setTrustAll(false);
        if (server.tls()) {
            options.setSsl(true);
            settings.caFile().ifPresent(ca -> options.setTrustOptions(TrustOptions.wrap(TrustStores.withExtraCa(ca))));
        }
        this.client = vertx.createWebSocketClient(options);

        WebSocketConnectOptions connect = new WebSocketConnectOptions()
                .setHost(server.host())
                .setPort(server.port())
                .setSsl(server.tls())
                .setURI(server.path())
                .setTimeout(CONNECT_TIMEOUT_MILLIS)
                .addSubProtocol(SUBPROTOCOL);
        server.basicUser().ifPresent(user -> connect.addHeader("Authorization", basic(user, server.basicPassword())));
        settings.proxy().ifPresent(p -> connect.setProxyOptions(proxyOptions(p)));
        this.connectOptions = connect;
    }

    public static String basic(String user, java.util.Optional<String> password) {
        String pair = user + ":" + password.orElse("");
        return "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }

    public static ProxyOptions proxyOptions(ProxySpec p) {
        // ProxyType.HTTP: Vert.x tunnels WebSocket connections through the proxy with CONNECT, TLS or not.
        ProxyOptions o =
                new ProxyOptions().setType(ProxyType.HTTP).setHost(p.host()).setPort(p.port());
        p.username().ifPresent(o::setUsername);
        p.password().ifPresent(o::setPassword);
        return o;
    }

    @Override
    public String name() {
        return "websocket";
    }

    @Override
    public Future<Connection> connect(String sessionIdHex, Direction direction, Handler handler) {
        WebSocketConnectOptions options = new WebSocketConnectOptions(connectOptions);
        if (sessionIdHex != null) {
            options.addHeader(SESSION_HEADER, sessionIdHex);
        }
        return client.connect(options).map(ws -> new WsConnection(ws, handler));
    }

    @Override
    public String display() {
        return server.display();
    }

    @Override
    public Future<Void> close() {
        return client.close();
    }

    /** One frame per binary message. */
    private static final class WsConnection implements Connection {
        private final WebSocket ws;
        private boolean closed;

        WsConnection(WebSocket ws, Handler handler) {
            this.ws = ws;
            ws.binaryMessageHandler(buf -> {
                if (!closed) {
                    handler.onFrame(buf.getByteBuf().nioBuffer());
                }
            });
            ws.textMessageHandler(text -> fail(handler, "exit node sent a text message"));
            ws.exceptionHandler(t -> fail(handler, describe(t)));
            ws.closeHandler(v -> {
                Short status = ws.closeStatusCode();
                String reason = ws.closeReason();
                fail(
                        handler,
                        "closed by the exit node" + (status == null ? "" : " (" + status + ")")
                                + (reason == null || reason.isEmpty() ? "" : ": " + reason));
            });
        }

        private void fail(Handler handler, String reason) {
            if (!closed) {
                closed = true;
                handler.onFailed(reason);
                ws.close();
            }
        }

        @Override
        public void send(ByteBuffer frame) {
            if (!closed) {
                ws.writeBinaryMessage(Buffer.buffer(Unpooled.wrappedBuffer(frame)));
            }
        }

        @Override
        public String name() {
            return "websocket";
        }

        @Override
        public boolean writeQueueFull() {
            return ws.writeQueueFull();
        }

        @Override
        public Future<Void> close(String reason) {
            if (closed) {
                return Future.succeededFuture();
            }
            closed = true;
            return ws.close((short) 1000, reason);
        }
    }

    /** The exception's message and its root cause's (Vert.x wraps TLS failures: the cause says what failed). */
    public static String describe(Throwable t) {
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        Throwable root = t;
        for (int depth = 0; root.getCause() != null && root.getCause() != root && depth < 10; depth++) {
            root = root.getCause();
        }
        if (root != t && root.getMessage() != null && !m.contains(root.getMessage())) {
            m = m + ": " + root.getMessage();
        }
        return m;
    }
}
