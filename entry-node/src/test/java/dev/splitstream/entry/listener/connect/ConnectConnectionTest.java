package dev.splitstream.entry.listener.connect;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.ResetCode;
import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

class ConnectConnectionTest {

    @Test
    void authorityParsesHostsAndIpv6() {
        assertThat(ConnectConnection.parseAuthority("db:5432")).containsExactly("db", "5432");
        assertThat(ConnectConnection.parseAuthority("[fd00::1]:443")).containsExactly("fd00::1", "443");
        assertThat(ConnectConnection.parseAuthority("db")).isNull();
        assertThat(ConnectConnection.parseAuthority("db:0")).isNull();
        assertThat(ConnectConnection.parseAuthority("fd00::1:443")).isNull();
        assertThat(ConnectConnection.parseAuthority("http://db:80/")).isNull();
    }

    @Test
    void headEndsAtTheFirstBlankLine() {
        Buffer b = Buffer.buffer("CONNECT db:1 HTTP/1.1\r\nHost: db:1\r\n\r\n\u0016\u0003\u0001");
        int end = ConnectConnection.endOfHead(b);
        assertThat(b.getString(end, b.length())).isEqualTo("\u0016\u0003\u0001");
        assertThat(ConnectConnection.endOfHead(Buffer.buffer("CONNECT db:1 HTTP/1.1\r\n")))
                .isEqualTo(-1);
    }

    @Test
    void resetCodesMapToProxyStatuses() {
        assertThat(ConnectReplies.statusLine(ResetCode.NOT_ALLOWED)).startsWith("403");
        assertThat(ConnectReplies.statusLine(ResetCode.TIMEOUT)).startsWith("504");
        assertThat(ConnectReplies.statusLine(ResetCode.CONNECT_FAILED)).startsWith("502");
        assertThat(ConnectReplies.statusLine(ResetCode.UNKNOWN_HOST)).startsWith("502");
        assertThat(ConnectReplies.response("403 Forbidden", "no")).startsWith("HTTP/1.1 403 Forbidden\r\n");
    }
}
