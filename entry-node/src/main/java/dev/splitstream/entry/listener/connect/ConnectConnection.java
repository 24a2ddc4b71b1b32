package dev.splitstream.entry.listener.connect;

import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.entry.listener.LocalStreams;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import dev.splitstream.protocol.ResetCode;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetSocket;
import org.jboss.logging.Logger;

/**
 * One HTTP CONNECT client. The request head is cut at its blank line here and parsed by Netty's
 * {@link HttpRequestDecoder}; whatever follows the head belongs to the tunnel (a client may send its TLS hello before
 * reading the 200) and is kept for it, never shown to the HTTP decoder.
 */
final class ConnectConnection implements SocketBridge.Replies {
    private static final Logger LOG = Logger.getLogger(ConnectConnection.class);

    static final int MAX_HEAD_BYTES = 16 * 1024;
    static final long REQUEST_TIMEOUT_MILLIS = 30_000;
    static final int MAX_EARLY_BYTES = 64 * 1024;

    private final Vertx vertx;
    private final NetSocket socket;
    private final SessionManager manager;
    private final EntryMetrics metrics;
    private Buffer head = Buffer.buffer();
    private Buffer early;
    private boolean connecting;
    private long timer;

    ConnectConnection(Vertx vertx, NetSocket socket, SessionManager manager, EntryMetrics metrics) {
        this.vertx = vertx;
        this.socket = socket;
        this.manager = manager;
        this.metrics = metrics;
    }

    void start() {
        socket.handler(this::onBytes);
        socket.exceptionHandler(t -> socket.close());
        socket.closeHandler(v -> vertx.cancelTimer(timer));
        timer = vertx.setTimer(REQUEST_TIMEOUT_MILLIS, id -> {
            if (!connecting) {
                respond("408 Request Timeout", "no complete CONNECT request");
            }
        });
    }

    private void onBytes(Buffer bytes) {
        if (connecting) {
            if (early.length() + bytes.length() > MAX_EARLY_BYTES) {
                socket.close();
            } else {
                early.appendBuffer(bytes);
            }
            return;
        }
        head.appendBuffer(bytes);
        int end = endOfHead(head);
        if (end < 0) {
            if (head.length() > MAX_HEAD_BYTES) {
                respond("431 Request Header Fields Too Large", "request head over " + MAX_HEAD_BYTES + " bytes");
            }
            return;
        }
        early = head.getBuffer(end, head.length());
        Buffer requestHead = head.getBuffer(0, end);
        head = null;
        connecting = true;
        vertx.cancelTimer(timer);
        onRequest(requestHead);
    }

    /** Index just past the first CRLF CRLF, or -1. */
    static int endOfHead(Buffer b) {
        for (int i = 3; i < b.length(); i++) {
            if (b.getByte(i) == '\n'
                    && b.getByte(i - 1) == '\r'
                    && b.getByte(i - 2) == '\n'
                    && b.getByte(i - 3) == '\r') {
                return i + 1;
            }
        }
        return -1;
    }

    private void onRequest(Buffer requestHead) {
        EmbeddedChannel channel = new EmbeddedChannel(new HttpRequestDecoder());
        HttpRequest request = null;
        try {
            channel.writeInbound(Unpooled.wrappedBuffer(requestHead.getBytes()));
            Object msg;
            while ((msg = channel.readInbound()) != null) {
                if (request == null && msg instanceof HttpRequest r) {
                    request = r;
                }
                ReferenceCountUtil.release(msg);
            }
        } finally {
            channel.finishAndReleaseAll();
        }
        if (request == null || request.decoderResult().isFailure()) {
            respond("400 Bad Request", "malformed request");
            return;
        }
        if (!HttpMethod.CONNECT.equals(request.method())) {
            respond("405 Method Not Allowed", "this proxy only supports CONNECT host:port");
            return;
        }
        String[] target = parseAuthority(request.uri());
        if (target == null) {
            respond("400 Bad Request", "CONNECT needs host:port, got '" + request.uri() + "'");
            return;
        }
        LocalStreams.open(socket, manager, metrics, target[0], Integer.parseInt(target[1]), this);
    }

    /** {@code host:port} or {@code [v6]:port} as {host, port}; null when malformed. */
    static String[] parseAuthority(String uri) {
        String host;
        String port;
        if (uri.startsWith("[")) {
            int close = uri.indexOf(']');
            if (close < 0 || close + 1 >= uri.length() || uri.charAt(close + 1) != ':') {
                return null;
            }
            host = uri.substring(1, close);
            port = uri.substring(close + 2);
        } else {
            int colon = uri.lastIndexOf(':');
            if (colon <= 0 || uri.indexOf(':') != colon) {
                return null;
            }
            host = uri.substring(0, colon);
            port = uri.substring(colon + 1);
        }
        if (host.isEmpty() || host.length() > 255 || host.contains("/") || host.contains("@")) {
            return null;
        }
        try {
            int p = Integer.parseInt(port);
            return p >= 1 && p <= 65535 ? new String[] {host, Integer.toString(p)} : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    @Override
    public void accepted(SocketBridge tunnel) {
        socket.write(Buffer.buffer("HTTP/1.1 200 Connection Established\r\n\r\n"));
        Buffer first = early;
        early = null;
        tunnel.relay(first);
    }

    @Override
    public void refused(SocketBridge tunnel, ResetCode code, String message) {
        socket.write(Buffer.buffer(ConnectReplies.response(ConnectReplies.statusLine(code), code + " " + message)));
    }

    private void respond(String statusLine, String reason) {
        LOG.debugf("http-connect client %s: %s (%s)", socket.remoteAddress(), statusLine, reason);
        socket.write(Buffer.buffer(ConnectReplies.response(statusLine, reason)));
        socket.end();
    }
}
