package dev.splitstream.entry.transport.ws;

import dev.splitstream.bridge.WebSocketMessages;
import dev.splitstream.bridge.WebSocketWriter;
import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.config.ProxySpec;
import dev.splitstream.entry.config.ServerEndpoint;
import dev.splitstream.entry.transport.Transport;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameProtection;
import dev.splitstream.protocol.Limits;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.websocketx.WebSocket08FrameEncoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrameEncoder;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.http.impl.WebSocketInternal;
import io.vertx.core.net.ProxyOptions;
import io.vertx.core.net.ProxyType;
import io.vertx.core.net.TrustOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.jboss.logging.Logger;

/**
 * Opens WebSocket connections to the exit node, with Vert.x's own {@link WebSocketClient} rather than the
 * websockets-next client: the session needs the raw {@link WebSocket} (writeQueueFull, pause/resume, close codes) and
 * its callbacks on the one event loop the session lives on, while websockets-next's connection only offers
 * {@code Uni}-returning sends on its own execution model; proxy and trust settings would have gone through its
 * {@code customizeOptions} escape hatch into these very Vert.x options anyway.
 */
public final class WebSocketTransport implements Transport {
    private static final Logger LOG = Logger.getLogger(WebSocketTransport.class);

    /** WebSocket subprotocol of this protocol version. */
    public static final String SUBPROTOCOL = "splitstream.v1";

    /**
     * Largest DATA payload the entry sends, so that a frame plus its header, sealed (header and tag of the envelope),
     * fits one WebSocket frame of 64 KiB: the default inbound frame limit of Vert.x and websockets-next servers (a
     * larger frame closes the connection with "Max frame length of 65536 has been exceeded").
     */
    public static final int MAX_SEND_PAYLOAD = 65_536 - FrameCodec.HEADER_LENGTH - FrameProtection.OVERHEAD;

    /** Largest message the entry accepts: the largest protocol frame an exit node may send, sealed. */
    static final int MAX_MESSAGE = Limits.HARD_MAX_PAYLOAD + FrameCodec.HEADER_LENGTH + FrameProtection.OVERHEAD;

    /** Time allowed for TCP connect plus the HTTP upgrade (and the proxy's CONNECT). */
    static final int CONNECT_TIMEOUT_MILLIS = 10_000;

    /**
     * Offer to send unmasked frames (request) and the exit's acceptance (response); the exit's {@code UnmaskedFrames}
     * explains why. Wire contract with the exit node.
     */
    static final String UNMASKED_HEADER = "X-Splitstream-Unmasked";

    private final ServerEndpoint server;
    private final WebSocketClient client;
    private final WebSocketConnectOptions connectOptions;
    /** Set when a connection sending unmasked frames failed before the exit answered anything: mask from then on. */
    private volatile boolean unmaskedRefused;

    private volatile boolean unmaskedLogged;

    /** A transport to {@code server} (the single server, or one leg of a split path). */
    public WebSocketTransport(Vertx vertx, EntrySettings settings, ServerEndpoint server) {
        this.server = server;
        WebSocketClientOptions options = new WebSocketClientOptions()
                .setTcpNoDelay(true)
                .setTcpKeepAlive(true)
                .setConnectTimeout(CONNECT_TIMEOUT_MILLIS)
                // Inbound frames may be as large as the largest protocol frame an exit node may send. Vert.x also
                // splits outbound messages at this size, so outbound frames are kept small by MAX_SEND_PAYLOAD.
                .setMaxFrameSize(MAX_MESSAGE)
                .setMaxMessageSize(MAX_MESSAGE)
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
        if (!unmaskedRefused) {
            options.addHeader(UNMASKED_HEADER, "1");
        }
        return client.connect(options).map(ws -> {
            boolean unmasked = !unmaskedRefused && stopMasking(ws);
            if (unmasked && !unmaskedLogged) {
                unmaskedLogged = true;
                LOG.infof("%s accepted unmasked WebSocket frames", server.display());
            }
            return new WsConnection(ws, handler, unmasked);
        });
    }

    /**
     * Replaces Netty's masking frame encoder by a non-masking one when the exit accepted unmasked frames in its 101
     * response. Runs before any frame is written (on the channel's event loop, or queued there ahead of the first write).
     */
    private static boolean stopMasking(WebSocket ws) {
        // Vert.x drops the 101 response's headers once the upgrade has completed; without them, keep masking.
        io.vertx.core.MultiMap headers = ws.headers();
        if (headers == null
                || !"1".equals(headers.get(UNMASKED_HEADER))
                || !(ws instanceof WebSocketInternal internal)) {
            return false;
        }
        ChannelHandlerContext ctx = internal.channelHandlerContext();
        Runnable replace = () -> {
            if (ctx.pipeline().get(WebSocketFrameEncoder.class) != null) {
                ctx.pipeline().replace(WebSocketFrameEncoder.class, "ws-encoder", new WebSocket08FrameEncoder(false));
            }
        };
        if (ctx.executor().inEventLoop()) {
            replace.run();
        } else {
            ctx.executor().execute(replace);
        }
        return true;
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
    private final class WsConnection implements Connection {
        private final WebSocket ws;
        /** Flushes once per event-loop turn; null if the WebSocket hides its channel (then Vert.x writes). */
        private final WebSocketWriter writer;

        private final boolean unmasked;
        private volatile boolean answered;
        private boolean closed;

        WsConnection(WebSocket ws, Handler handler, boolean unmasked) {
            this.ws = ws;
            this.unmasked = unmasked;
            this.writer = WebSocketWriter.of(ws);
            // Messages straight from the frames: Vert.x's binaryMessageHandler copies every message once more.
            ws.frameHandler(new WebSocketMessages(MAX_MESSAGE, new WebSocketMessages.Sink() {
                @Override
                public void onMessage(Buffer message) {
                    answered = true;
                    if (!closed) {
                        handler.onFrame(message.getByteBuf().nioBuffer());
                    }
                }

                @Override
                public void onInvalid(String reason) {
                    fail(handler, "exit node sent a bad message: " + reason);
                }
            }));
            // Vert.x calls it when the channel turns writable again (also after the writer's own writes to it).
            ws.drainHandler(v -> handler.onDrained());
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

        /** Something between us and the exit passed the offer but not the frames: mask from now on. */
        private void unansweredUnmasked(String reason) {
            if (unmasked && !answered && !unmaskedRefused) {
                unmaskedRefused = true;
                LOG.warnf(
                        "%s: connection ended before the exit answered (%s); masking WebSocket frames from now on",
                        server.display(), reason);
            }
        }

        private void fail(Handler handler, String reason) {
            unansweredUnmasked(reason);
            if (!closed) {
                closed = true;
                handler.onFailed(reason);
                ws.close();
            }
        }

        @Override
        public void send(ByteBuffer frame) {
            if (closed) {
                return;
            }
            if (writer != null) {
                writer.write(frame);
            } else {
                ws.writeBinaryMessage(Buffer.buffer(Unpooled.wrappedBuffer(frame)));
            }
        }

        @Override
        public void send(Frame frame, FrameCodec codec) {
            if (closed) {
                return;
            }
            if (writer != null) {
                writer.write(frame, codec);
            } else {
                send(codec.encode(frame));
            }
        }

        @Override
        public String name() {
            return "websocket";
        }

        @Override
        public boolean writeQueueFull() {
            return writer != null ? writer.writeQueueFull() : ws.writeQueueFull();
        }

        @Override
        public Future<Void> close(String reason) {
            if (closed) {
                return Future.succeededFuture();
            }
            unansweredUnmasked(reason);
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
