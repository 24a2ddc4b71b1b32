package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ReplayGuardTest {
    private final MutableClock clock = MutableClock.atFixedStart();

    private static byte[] nonce(int n) {
        byte[] b = new byte[32];
        b[0] = (byte) n;
        b[31] = (byte) (n >> 8);
        return b;
    }

    @Test
    void secondUseOfANonceIsRefusedAsReplay() throws Exception {
        ReplayGuard guard = new ReplayGuard(Duration.ofMinutes(4), 10, clock);
        guard.check(nonce(1));
        assertThatThrownBy(() -> guard.check(nonce(1)))
                .isInstanceOf(ProtocolException.class)
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.REPLAY);
    }

    @Test
    void callerChangingItsArrayAfterwardsDoesNotEraseTheNonce() throws Exception {
        ReplayGuard guard = new ReplayGuard(Duration.ofMinutes(4), 10, clock);
        byte[] n = nonce(1);
        guard.check(n);
        n[5] = 9;
        assertThatThrownBy(() -> guard.check(nonce(1))).isInstanceOf(ProtocolException.class);
    }

    @Test
    void nonceIsForgottenAfterTheWindow() throws Exception {
        ReplayGuard guard = new ReplayGuard(Duration.ofMinutes(4), 10, clock);
        guard.check(nonce(1));
        clock.advance(Duration.ofMinutes(4).plusMillis(1));
        guard.check(nonce(1));
        assertThat(guard.size()).isEqualTo(1);
    }

    @Test
    void fullGuardRefusesNewNoncesUntilOldOnesExpire() throws Exception {
        ReplayGuard guard = new ReplayGuard(Duration.ofMinutes(1), 3, clock);
        guard.check(nonce(1));
        guard.check(nonce(2));
        guard.check(nonce(3));
        assertThatThrownBy(() -> guard.check(nonce(4)))
                .isInstanceOf(ProtocolException.class)
                .extracting(e -> ((ProtocolException) e).code())
                .isEqualTo(CloseCode.LIMIT_EXCEEDED);
        clock.advance(Duration.ofMinutes(2));
        guard.check(nonce(4));
        assertThat(guard.size()).isEqualTo(1);
    }

    @Test
    void forLimitsRemembersForTwiceTheClockSkew() throws Exception {
        ReplayGuard guard = ReplayGuard.forLimits(Limits.defaults(), 10, clock);
        guard.check(nonce(1));
        clock.advance(Limits.defaults().clockSkew().multipliedBy(2).minusSeconds(1));
        assertThatThrownBy(() -> guard.check(nonce(1))).isInstanceOf(ProtocolException.class);
    }

    @Test
    void capacityFollowsTheHeap() {
        assertThat(ReplayGuard.capacityForHeap(192L << 20, 32)).isEqualTo((192 << 20) / 32 / 200);
        assertThat(ReplayGuard.capacityForHeap(1L << 20, 32)).isEqualTo(1024);
        assertThat(ReplayGuard.capacityForHeap(Long.MAX_VALUE, 1)).isEqualTo(Integer.MAX_VALUE - 8);
    }
}
