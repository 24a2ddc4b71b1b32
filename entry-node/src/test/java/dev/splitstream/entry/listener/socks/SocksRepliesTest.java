package dev.splitstream.entry.listener.socks;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.ResetCode;
import org.junit.jupiter.api.Test;

class SocksRepliesTest {

    @Test
    void resetCodesMapToRfc1928Replies() {
        assertThat(SocksReplies.statusFor(ResetCode.NOT_ALLOWED).byteValue()).isEqualTo((byte) 0x02);
        assertThat(SocksReplies.statusFor(ResetCode.UNKNOWN_HOST).byteValue()).isEqualTo((byte) 0x04);
        assertThat(SocksReplies.statusFor(ResetCode.CONNECT_FAILED).byteValue()).isEqualTo((byte) 0x05);
        assertThat(SocksReplies.statusFor(ResetCode.TIMEOUT).byteValue()).isEqualTo((byte) 0x06);
        for (ResetCode other : new ResetCode[] {
            ResetCode.INTERNAL, ResetCode.TOO_MANY_STREAMS, ResetCode.SESSION_CLOSED, ResetCode.CANCELLED
        }) {
            assertThat(SocksReplies.statusFor(other).byteValue()).isEqualTo((byte) 0x01);
        }
    }
}
