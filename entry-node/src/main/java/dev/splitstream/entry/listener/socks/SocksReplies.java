package dev.splitstream.entry.listener.socks;

import dev.splitstream.protocol.ResetCode;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;

/** Which SOCKS5 reply (RFC 1928 section 6) tells a client why its CONNECT failed. */
public final class SocksReplies {
    private SocksReplies() {}

    public static Socks5CommandStatus statusFor(ResetCode code) {
        return switch (code) {
            case NOT_ALLOWED -> Socks5CommandStatus.FORBIDDEN; // 0x02 connection not allowed by ruleset
            case UNKNOWN_HOST -> Socks5CommandStatus.HOST_UNREACHABLE; // 0x04
            case CONNECT_FAILED -> Socks5CommandStatus.CONNECTION_REFUSED; // 0x05
            case TIMEOUT -> Socks5CommandStatus.TTL_EXPIRED; // 0x06
            default -> Socks5CommandStatus.FAILURE; // 0x01 general SOCKS server failure
        };
    }
}
