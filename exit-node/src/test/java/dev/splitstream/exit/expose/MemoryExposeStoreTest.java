package dev.splitstream.exit.expose;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MemoryExposeStoreTest {
    private final MemoryExposeStore store = new MemoryExposeStore();
    private final Instant t0 = Instant.parse("2026-11-29T20:00:00Z");
    private final ServiceKey ssh = new ServiceKey("tok", "laptop", "ssh");
    private final ServiceKey db = new ServiceKey("tok", "laptop", "db");
    private final ServiceKey other = new ServiceKey("tok", "desk", "ssh");

    private int claim(ServiceKey key, int requested, Instant now) {
        return store.claim(key, requested, 10000, 10002, Set.of(), now)
                .lease()
                .map(Lease::port)
                .orElse(-1);
    }

    @Test
    void theLowestFreePortIsGivenAndTheSameIdentityKeepsIt() {
        assertThat(claim(ssh, 0, t0)).isEqualTo(10000);
        assertThat(claim(db, 0, t0)).isEqualTo(10001);
        assertThat(claim(ssh, 0, t0)).isEqualTo(10000);
        assertThat(claim(ssh, 10000, t0)).isEqualTo(10000);
    }

    @Test
    void aLeaseCountingDownIsReservedUntilItExpires() {
        claim(ssh, 10000, t0);
        store.disconnect(ssh, t0.plus(Duration.ofMinutes(10)));
        ExposeStore.Claim taken = store.claim(other, 10000, 10000, 10002, Set.of(), t0.plusSeconds(60));
        assertThat(taken.refusal()).contains(ExposeStore.Refusal.PORT_TAKEN);
        assertThat(taken.holder()).contains(ssh);
        assertThat(claim(other, 0, t0.plusSeconds(60)))
                .as("any port skips the reserved one")
                .isEqualTo(10001);
        assertThat(claim(ssh, 0, t0.plusSeconds(61)))
                .as("the holder comes back")
                .isEqualTo(10000);
        assertThat(store.lease(ssh).orElseThrow().expires()).isEmpty();
    }

    @Test
    void anExpiredLeaseFreesItsPortAndReleaseFreesItAtOnce() {
        claim(ssh, 10000, t0);
        store.disconnect(ssh, t0.plusSeconds(5));
        assertThat(store.expire(t0.plusSeconds(4))).isEmpty();
        assertThat(store.expire(t0.plusSeconds(5))).extracting(Lease::key).containsExactly(ssh);
        assertThat(claim(other, 10000, t0.plusSeconds(6))).isEqualTo(10000);
        assertThat(store.release(other)).isPresent();
        assertThat(claim(ssh, 10000, t0.plusSeconds(7))).isEqualTo(10000);
    }

    @Test
    void aFullRangeIsRefusedAndAvoidedPortsAreSkipped() {
        claim(ssh, 0, t0);
        claim(db, 0, t0);
        assertThat(store.claim(other, 0, 10000, 10002, Set.of(10002), t0).refusal())
                .contains(ExposeStore.Refusal.RANGE_FULL);
        assertThat(claim(other, 0, t0)).isEqualTo(10002);
    }

    @Test
    void askingForAnotherPortMovesTheLease() {
        claim(ssh, 10000, t0);
        assertThat(claim(ssh, 10002, t0)).isEqualTo(10002);
        assertThat(store.leases()).extracting(Lease::port).containsExactly(10002);
    }
}
