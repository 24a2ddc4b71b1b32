package dev.splitstream.entry.listener.socks;

import dev.splitstream.bridge.SocketBridge;
import dev.splitstream.entry.config.EntrySettings.SocksAuth;
import dev.splitstream.entry.listener.LocalStreams;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import dev.splitstream.protocol.ResetCode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderResultProvider;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5PasswordAuthResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequest;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5CommandType;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequest;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5Message;
import io.netty.handler.codec.socksx.v5.Socks5PasswordAuthRequest;
import io.netty.handler.codec.socksx.v5.Socks5PasswordAuthRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5PasswordAuthStatus;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetSocket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * One SOCKS5 client. The protocol is decoded and encoded by Netty's codec-socks, run in an {@link EmbeddedChannel} fed
 * from the Vert.x socket: that keeps the socket a Vert.x NetSocket (same backpressure and half-close code as the other
 * listeners, via {@link SocketBridge}) while no SOCKS byte is parsed by hand. Decoders are swapped per phase (greeting,
 * authentication, command), as Netty's own SOCKS server example does.
 */
final class SocksConnection implements SocketBridge.Replies {
    private static final Logger LOG = Logger.getLogger(SocksConnection.class);

    /** The whole negotiation must finish within this time. */
    static final long NEGOTIATION_TIMEOUT_MILLIS = 30_000;
    /** Bytes a client may send after its CONNECT before the reply; more is a protocol violation. */
    static final int MAX_EARLY_BYTES = 64 * 1024;

    private enum State {
        GREETING,
        AUTH,
        COMMAND,
        CONNECTING,
        RELAYING,
        CLOSED
    }

    private final Vertx vertx;
    private final NetSocket socket;
    private final Optional<SocksAuth> auth;
    private final SessionManager manager;
    private final EntryMetrics metrics;
    private final EmbeddedChannel codec = new EmbeddedChannel();
    private State state = State.GREETING;
    private Buffer early = Buffer.buffer();
    private long timer;

    SocksConnection(
            Vertx vertx, NetSocket socket, Optional<SocksAuth> auth, SessionManager manager, EntryMetrics metrics) {
        this.vertx = vertx;
        this.socket = socket;
        this.auth = auth;
        this.manager = manager;
        this.metrics = metrics;
    }

    void start() {
        codec.pipeline().addLast("encoder", Socks5ServerEncoder.DEFAULT);
        codec.pipeline().addLast("decoder", new Socks5InitialRequestDecoder());
        socket.handler(this::onBytes);
        socket.closeHandler(v -> close());
        socket.exceptionHandler(t -> socket.close());
        timer = vertx.setTimer(NEGOTIATION_TIMEOUT_MILLIS, id -> {
            if (state.ordinal() < State.CONNECTING.ordinal()) {
                LOG.debugf("socks5 client %s did not finish negotiating", socket.remoteAddress());
                socket.close();
            }
        });
    }

    private void onBytes(Buffer bytes) {
        switch (state) {
            case GREETING, AUTH, COMMAND -> {
                codec.writeInbound(Unpooled.wrappedBuffer(bytes.getBytes()));
                drain();
            }
            case CONNECTING -> keepEarly(bytes);
            default -> {}
        }
    }

    private void keepEarly(Buffer bytes) {
        if (early.length() + bytes.length() > MAX_EARLY_BYTES) {
            socket.close();
        } else {
            early.appendBuffer(bytes);
        }
    }

    private void drain() {
        Object msg;
        while (state != State.CLOSED && (msg = codec.readInbound()) != null) {
            try {
                if (msg instanceof ByteBuf leftover) {
                    // Bytes after a message that the previous decoder passed on: the next phase's, or early data.
                    if (state == State.CONNECTING) {
                        keepEarly(Buffer.buffer(ByteBufUtil.getBytes(leftover)));
                    } else {
                        codec.writeInbound(leftover.retain());
                    }
                } else if (msg instanceof DecoderResultProvider decoded
                        && decoded.decoderResult().isFailure()) {
                    LOG.debugf(
                            "socks5 client %s sent a bad request: %s",
                            socket.remoteAddress(), decoded.decoderResult().cause());
                    fail();
                } else if (msg instanceof Socks5InitialRequest greeting) {
                    onGreeting(greeting);
                } else if (msg instanceof Socks5PasswordAuthRequest password) {
                    onPassword(password);
                } else if (msg instanceof Socks5CommandRequest command) {
                    onCommand(command);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    private void onGreeting(Socks5InitialRequest greeting) {
        Socks5AuthMethod wanted = auth.isPresent() ? Socks5AuthMethod.PASSWORD : Socks5AuthMethod.NO_AUTH;
        if (!greeting.authMethods().contains(wanted)) {
            reply(new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED));
            SocketBridge.REFUSALS.log(
                    "socks_auth_method",
                    "socks5 client %s offered no acceptable authentication method (need %s)",
                    socket.remoteAddress(),
                    wanted);
            fail();
            return;
        }
        reply(new DefaultSocks5InitialResponse(wanted));
        if (auth.isPresent()) {
            nextDecoder(new Socks5PasswordAuthRequestDecoder());
            state = State.AUTH;
        } else {
            nextDecoder(new Socks5CommandRequestDecoder());
            state = State.COMMAND;
        }
    }

    private void onPassword(Socks5PasswordAuthRequest request) {
        SocksAuth expected = auth.orElseThrow();
        // Both compared, in constant time, so the reply time tells nothing about which one was wrong.
        boolean userOk = MessageDigest.isEqual(bytes(request.username()), bytes(expected.username()));
        boolean passOk = MessageDigest.isEqual(bytes(request.password()), bytes(expected.password()));
        if (!(userOk & passOk)) {
            reply(new DefaultSocks5PasswordAuthResponse(Socks5PasswordAuthStatus.FAILURE));
            SocketBridge.REFUSALS.log("socks_auth", "socks5 authentication failed from %s", socket.remoteAddress());
            fail();
            return;
        }
        reply(new DefaultSocks5PasswordAuthResponse(Socks5PasswordAuthStatus.SUCCESS));
        nextDecoder(new Socks5CommandRequestDecoder());
        state = State.COMMAND;
    }

    private void onCommand(Socks5CommandRequest command) {
        if (command.type() != Socks5CommandType.CONNECT) {
            reply(new DefaultSocks5CommandResponse(Socks5CommandStatus.COMMAND_UNSUPPORTED, Socks5AddressType.IPv4));
            LOG.debugf("socks5 client %s asked for %s, only CONNECT is supported", socket.remoteAddress(), command);
            fail();
            return;
        }
        if (command.dstPort() == 0) {
            reply(new DefaultSocks5CommandResponse(Socks5CommandStatus.FAILURE, Socks5AddressType.IPv4));
            fail();
            return;
        }
        state = State.CONNECTING;
        codec.pipeline().remove("decoder");
        vertx.cancelTimer(timer);
        LocalStreams.open(socket, manager, metrics, command.dstAddr(), command.dstPort(), this);
    }

    @Override
    public void accepted(SocketBridge tunnel) {
        reply(new DefaultSocks5CommandResponse(Socks5CommandStatus.SUCCESS, Socks5AddressType.IPv4, "0.0.0.0", 0));
        state = State.RELAYING;
        Buffer first = early;
        early = null;
        codec.finishAndReleaseAll();
        tunnel.relay(first);
    }

    @Override
    public void refused(SocketBridge tunnel, ResetCode code, String message) {
        reply(new DefaultSocks5CommandResponse(SocksReplies.statusFor(code), Socks5AddressType.IPv4, "0.0.0.0", 0));
        state = State.CLOSED;
        codec.finishAndReleaseAll();
    }

    private void nextDecoder(ChannelHandler decoder) {
        codec.pipeline().replace("decoder", "decoder", decoder);
    }

    private void reply(Socks5Message message) {
        codec.writeOutbound(message);
        Object out;
        while ((out = codec.readOutbound()) != null) {
            ByteBuf buf = (ByteBuf) out;
            try {
                socket.write(Buffer.buffer(ByteBufUtil.getBytes(buf)));
            } finally {
                buf.release();
            }
        }
    }

    private void fail() {
        state = State.CLOSED;
        vertx.cancelTimer(timer);
        codec.finishAndReleaseAll();
        socket.end();
    }

    private void close() {
        if (state.ordinal() < State.CONNECTING.ordinal()) {
            state = State.CLOSED;
            vertx.cancelTimer(timer);
            codec.finishAndReleaseAll();
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
