package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class BufferBudgetTest {
    private static final int SHARE = 16 * 1024;

    @Test
    void newStreamsAreRefusedOnceTheSharesFillTheLimit() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        List<BufferBudget.Lease> leases = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            leases.add(budget.tryOpen());
        }
        assertThat(leases).doesNotContainNull();
        leases.forEach(l -> l.charge(1)); // busy: none holds nothing, so none will lend its share
        assertThat(budget.isSpent()).isTrue();
        assertThat(budget.tryOpen()).isNull();
        assertThat(budget.refused()).isEqualTo(1);
        assertThat(budget.describe()).contains("0.1 MiB of 0.1 MiB committed by 8 streams");
        assertThat(budget.maxWaiting()).isEqualTo(16);
        for (int i = 0; i < 16; i++) {
            assertThat(budget.isSpentForNew())
                    .as("new streams may still wait for a share")
                    .isFalse();
            assertThat(budget.startWaiting()).isTrue();
        }
        assertThat(budget.startWaiting()).as("at most 16 wait").isFalse();
        assertThat(budget.isSpentForNew()).isTrue();
        budget.stopWaiting();
        assertThat(budget.isSpentForNew()).isFalse();
        leases.get(0).close();
        assertThat(budget.tryOpen()).isNotNull();
    }

    @Test
    void receiveWindowsGrowTogetherByHalfTheLimitAndGiveItBackOnClose() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease fast = budget.tryOpen();
        BufferBudget.Lease other = budget.tryOpen();
        assertThat(budget.windowGrowthLimit()).isEqualTo(4L * SHARE);
        assertThat(fast.growWindow(3 * SHARE)).isEqualTo(3 * SHARE);
        assertThat(other.growWindow(2 * SHARE)).as("only what is left").isEqualTo(SHARE);
        assertThat(other.growWindow(SHARE)).isZero();
        assertThat(budget.windowGrowth()).isEqualTo(4L * SHARE);
        fast.close();
        fast.close();
        assertThat(budget.windowGrowth()).isEqualTo(SHARE);
        assertThat(fast.growWindow(SHARE)).as("a closed lease grows nothing").isZero();
        assertThat(other.growWindow(-1)).isZero();
        assertThat(other.growWindow(5 * SHARE)).isEqualTo(3 * SHARE);
        other.close();
        assertThat(budget.windowGrowth()).isZero();
    }

    @Test
    void aStreamBelowItsShareMayReadWhenOthersSpentThePool() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease hog = budget.tryOpen();
        BufferBudget.Lease quiet = budget.tryOpen();
        // the hog borrows everything the two shares leave free, then must stop
        assertThat(hog.charge(6L * SHARE)).isTrue();
        assertThat(hog.charge(SHARE)).isFalse();
        assertThat(budget.committed()).isEqualTo(8L * SHARE);
        assertThat(budget.tryOpen()).as("no room for a new stream's share").isNull();
        // the quiet stream still moves its share
        assertThat(quiet.charge(SHARE - 1)).isTrue();
        assertThat(quiet.charge(1)).isFalse();
        quiet.release(SHARE);
        assertThat(quiet.mayTake()).isTrue();
    }

    @Test
    void waitersWakeOnceAnEighthOfTheBudgetIsFreeAgain() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease a = budget.tryOpen();
        BufferBudget.Lease b = budget.tryOpen();
        BufferBudget.Lease hog = budget.tryOpen();
        assertThat(hog.charge(6L * SHARE)).isFalse(); // 3 shares + 5 borrowed: spent
        assertThat(a.charge(SHARE)).isFalse();
        assertThat(b.charge(SHARE)).isFalse();
        AtomicInteger woken = new AtomicInteger();
        a.whenMayTake(woken::incrementAndGet);
        b.whenMayTake(woken::incrementAndGet);
        assertThat(woken).hasValue(0);
        hog.release(SHARE / 2); // 7.5 of 8 shares committed: not yet an eighth free
        assertThat(woken).hasValue(0);
        hog.release(SHARE / 2); // 7 of 8
        assertThat(woken).hasValue(2);
        hog.release(SHARE);
        assertThat(woken).as("each waiter runs once").hasValue(2);
    }

    @Test
    void aStreamThatReleasesBelowItsShareWakesAtOnce() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease hog = budget.tryOpen();
        BufferBudget.Lease other = budget.tryOpen();
        hog.charge(7L * SHARE);
        assertThat(other.charge(2L * SHARE)).isFalse();
        AtomicInteger woken = new AtomicInteger();
        other.whenMayTake(woken::incrementAndGet);
        other.release(SHARE + 1); // now below its share, while the pool is still spent by the hog
        assertThat(woken).hasValue(1);
    }

    @Test
    void whenMayTakeRunsAtOnceWhenThereIsRoomAndNeverAfterClose() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease lease = budget.tryOpen();
        AtomicInteger runs = new AtomicInteger();
        lease.whenMayTake(runs::incrementAndGet);
        assertThat(runs).hasValue(1);
        lease.charge(10L * SHARE);
        lease.whenMayTake(runs::incrementAndGet);
        lease.close();
        assertThat(runs).hasValue(1);
        assertThat(lease.charge(1)).isFalse();
        lease.whenMayTake(runs::incrementAndGet);
        assertThat(runs).hasValue(1);
    }

    @Test
    void closingGivesBackTheShareAndEverythingCharged() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease lease = budget.tryOpen();
        lease.charge(5L * SHARE);
        lease.close();
        lease.close();
        lease.release(SHARE);
        assertThat(budget.held()).isZero();
        assertThat(budget.committed()).isZero();
        assertThat(budget.leases()).isZero();
    }

    @Test
    void arrivedBytesPastTwiceTheLimitAreRefused() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease lease = budget.tryOpen();
        assertThat(lease.chargeArrived(16L * SHARE)).isTrue();
        assertThat(lease.chargeArrived(1)).isFalse();
        assertThat(budget.held()).isEqualTo(16L * SHARE);
        lease.release(SHARE);
        assertThat(lease.chargeArrived(SHARE)).isTrue();
    }

    /**
     * The true worst case, {@code 3 * limit} (class comment): a random walk of many streams, more than {@code limit /
     * share} of them (idle ones lend their shares), that follows the socket read contract (a read's size granted by
     * {@link BufferBudget.Lease#grantRead}, anything may happen meanwhile on other streams, then the read settled with
     * at most that many bytes), while the peer's bytes arrive within and past shares and time passes.
     */
    @Test
    void heldNeverExceedsThreeTimesTheLimitWhateverStreamsDo() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(64L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        Random random = new Random(11);
        List<BufferBudget.Lease> leases = new ArrayList<>();
        java.util.Map<BufferBudget.Lease, Integer> reading = new java.util.HashMap<>();
        long maxHeld = 0;
        int maxLeases = 0;
        for (int step = 0; step < 200_000; step++) {
            int op = random.nextInt(12);
            BufferBudget.Lease lease = leases.isEmpty() ? null : leases.get(random.nextInt(leases.size()));
            if (op == 0 || lease == null) {
                BufferBudget.Lease opened = budget.tryOpen();
                if (opened != null) {
                    leases.add(opened);
                    opened.onEvict(() -> {}); // the stream ends; the walk closes it below when it picks it
                }
            } else if (op == 1) {
                if (!reading.containsKey(lease) && random.nextInt(4) == 0) {
                    leases.remove(lease);
                    lease.close();
                }
            } else if (op < 5) {
                Integer grant = reading.remove(lease);
                if (grant == null) {
                    int g = lease.grantRead(1 + random.nextInt(SHARE)); // the read's buffer
                    if (g > 0) {
                        reading.put(lease, g);
                    }
                } else {
                    lease.settleRead(grant, random.nextInt(grant + 1)); // the read took up to its buffer
                }
            } else if (op < 9) {
                lease.chargeArrived(1 + random.nextInt(4 * SHARE));
            } else if (op < 11) {
                lease.release(random.nextInt(SHARE / 2));
            } else {
                now[0] += random.nextInt(1_000_000_000);
            }
            maxHeld = Math.max(maxHeld, budget.held());
            maxLeases = Math.max(maxLeases, budget.leases());
            assertThat(budget.held()).isLessThanOrEqualTo(3 * budget.limit());
        }
        // (the reached worst case is the schedule of theWorstCaseIsThreeTimesTheLimitAndIsReached)
        assertThat(maxHeld).isLessThanOrEqualTo(3 * budget.limit()).isGreaterThan(budget.limit());
        assertThat(maxLeases).as("idle streams lent their shares").isGreaterThan(64);
        reading.forEach((lease, grant) -> lease.settleRead(grant, 0));
        leases.forEach(BufferBudget.Lease::close);
        assertThat(budget.held()).isZero();
        assertThat(budget.committed()).isZero();
        assertThat(budget.dormant()).isZero();
    }

    /** The schedule that reaches the bound: dormant streams receive up to the ceiling, then every share fills. */
    @Test
    void theWorstCaseIsThreeTimesTheLimitAndIsReached() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<BufferBudget.Lease> first = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            first.add(budget.tryOpen());
        }
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        List<BufferBudget.Lease> second = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            second.add(budget.tryOpen()); // each takes the share of an idle first one
        }
        assertThat(second).doesNotContainNull();
        assertThat(budget.dormant()).isEqualTo(8);
        for (BufferBudget.Lease dormant : first) {
            // the peer sends within its window; no share is free to claim, the ceiling takes them
            assertThat(dormant.chargeArrived(2L * SHARE)).isTrue();
        }
        assertThat(first.get(0).chargeArrived(1)).as("past 2 x limit").isFalse();
        for (BufferBudget.Lease lease : second) {
            assertThat(lease.chargeArrived(SHARE)).as("within its share").isTrue();
        }
        assertThat(budget.held()).isEqualTo(3 * budget.limit());
    }

    @Test
    void idleStreamsLendTheirShareAndClaimOneBackWithoutAReset() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        List<BufferBudget.Lease> idle = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            int n = i;
            lease.onEvict(() -> reset.add("idle " + n));
            lease.charge(100);
            lease.release(100);
            idle.add(lease);
            now[0] += 100_000_000;
        }
        assertThat(budget.tryOpen()).as("none idle for long enough yet").isNull();
        assertThat(budget.isSpent()).as("no share to take now").isTrue();
        assertThat(budget.idleWithin()).isEqualTo(BufferBudget.IDLE_AFTER.toNanos() - 400_000_000);
        now[0] += BufferBudget.IDLE_AFTER.toNanos() - 350_000_000; // idle 0 and 1 idle long enough, not 2 and 3
        idle.get(1).charge(1); // idle 1 moves again
        idle.get(1).release(1);
        BufferBudget.Lease newcomer = budget.tryOpen();
        assertThat(newcomer).isNotNull();
        assertThat(idle.get(0).isDormant())
                .as("the longest idle lent its share")
                .isTrue();
        assertThat(reset).isEmpty();
        assertThat(budget.describe()).contains("committed by 5 streams").contains("1 idle streams lent their share");
        assertThat(budget.tryOpen())
                .as("idle 1 just moved, 2 and 3 not idle long enough")
                .isNull();

        // the dormant stream reads again: no room, no idle stream, nothing stuck: it reads nothing and waits
        AtomicInteger woken = new AtomicInteger();
        assertThat(idle.get(0).grantRead(SHARE)).isZero();
        assertThat(idle.get(0).mayTake()).isFalse();
        idle.get(0).whenMayTake(woken::incrementAndGet);
        now[0] += 200_000_000; // idle 2 idle long enough now
        assertThat(idle.get(0).mayTake()).isTrue();
        assertThat(idle.get(0).grantRead(SHARE)).as("claimed idle 2's share").isEqualTo(SHARE);
        assertThat(idle.get(0).isDormant()).isFalse();
        assertThat(idle.get(2).isDormant()).isTrue();
        idle.get(0).settleRead(SHARE, 10);
        assertThat(budget.held()).isEqualTo(10);
        assertThat(reset).isEmpty();
        // a dormant stream that receives claims a share the same way, or waits past its share like any other
        assertThat(idle.get(2).chargeArrived(SHARE)).isTrue();
        assertThat(idle.get(2).isDormant())
                .as("nothing to claim: the bytes are past its (lent) share")
                .isTrue();
        idle.get(1).close();
        assertThat(idle.get(2).mayTake()).as("committed is still at the limit").isFalse();
        now[0] += 100_000_000; // idle 3 idle long enough now
        assertThat(idle.get(2).mayTake()).isTrue();
        assertThat(idle.get(2).grantRead(SHARE))
                .as("claimed idle 3's share (its own bytes fill it) and reads the free room")
                .isEqualTo(SHARE);
        assertThat(idle.get(3).isDormant()).isTrue();
        assertThat(budget.committed()).isLessThanOrEqualTo(budget.limit());
        assertThat(reset).isEmpty();
        assertThat(woken)
                .as("no room freed for the waiter: it claims when it reads")
                .hasValue(0);
        assertThat(budget.lent()).isEqualTo(3);
    }

    @Test
    void anArrivalPastTheCeilingResetsTheStuckStreamHoldingTheMostNotAMovingOne() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease small = budget.tryOpen();
        small.onEvict(() -> reset.add("small"));
        BufferBudget.Lease big = budget.tryOpen();
        big.onEvict(() -> reset.add("big"));
        BufferBudget.Lease echo = budget.tryOpen();
        echo.onEvict(() -> reset.add("echo"));
        assertThat(small.chargeArrived(2L * SHARE)).isTrue(); // queued to sockets that do not take them
        assertThat(big.chargeArrived(6L * SHARE)).isTrue();
        assertThat(echo.chargeArrived(SHARE)).as("within its share").isTrue();
        assertThat(echo.chargeArrived(1))
                .as("past the ceiling, nobody stuck yet")
                .isFalse();
        now[0] += BufferBudget.PREEMPT_AFTER.toNanos();
        echo.written(SHARE); // the echo stream moves
        assertThat(echo.chargeArrived(SHARE + 1))
                .as("past its share and the ceiling")
                .isTrue();
        assertThat(reset).containsExactly("big");
        assertThat(budget.overrunVictims()).isEqualTo(1);
        assertThat(budget.overruns())
                .as("the refused arrival and the stuck stream reset for the next")
                .isEqualTo(2);
        assertThat(echo.chargeArrived(100L * SHARE)).isFalse();
        assertThat(echo.chargeArrived(100L * SHARE)).isFalse();
        assertThat(budget.overruns()).as("a refused stream counts once").isEqualTo(3);
        assertThat(big.held()).isZero();
    }

    @Test
    void stalledStreamsAreEvictedWhileMoreThanHalfTheBudgetIsCommitted() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        BufferBudget.Lease stalled = budget.tryOpen();
        BufferBudget.Lease moving = budget.tryOpen();
        BufferBudget.Lease idle = budget.tryOpen();
        AtomicInteger evicted = new AtomicInteger();
        stalled.onEvict(evicted::incrementAndGet);
        moving.onEvict(() -> evicted.addAndGet(100));
        idle.onEvict(() -> evicted.addAndGet(10_000));
        stalled.charge(2L * SHARE);
        moving.charge(2L * SHARE);
        now[0] += 31_000_000_000L;
        moving.release(SHARE);
        assertThat(budget.evictStalled())
                .as("half the budget or less committed: nobody")
                .isZero();
        moving.charge(2L * SHARE); // 3 shares + 1 + 3 borrowed = 6.x of 8: more than half
        assertThat(budget.evictStalled()).isEqualTo(1);
        assertThat(evicted)
                .as("only the lease that held bytes and released none for 30 s")
                .hasValue(1);
        assertThat(budget.evictStalled()).as("each at most once").isZero();
        assertThat(budget.evicted()).isEqualTo(1);
        // a stream that holds nothing but cannot read (no credit from its peer) stalls too
        idle.blocked(true);
        assertThat(budget.evictStalled()).isZero();
        now[0] += 31_000_000_000L;
        assertThat(budget.evictStalled()).isEqualTo(2); // idle, and moving: silent for 31 s with bytes held
        assertThat(evicted).hasValue(10_101);
    }

    @Test
    void onceUnderPressureEveryStalledStreamIsEvictedEvenAfterTheBudgetHasRoom() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        AtomicInteger evicted = new AtomicInteger();
        BufferBudget.Lease early = budget.tryOpen();
        early.onEvict(evicted::incrementAndGet);
        early.charge(5L * SHARE); // more than half committed
        now[0] += 20_000_000_000L;
        BufferBudget.Lease late = budget.tryOpen(); // a flood stream whose client left later: blocked, holds nothing
        late.onEvict(() -> evicted.addAndGet(100));
        late.blocked(true);
        now[0] += 11_000_000_000L;
        assertThat(budget.evictStalled()).as("the early one stalled 31 s").isEqualTo(1);
        early.close(); // as its socket closes: the budget has room now
        assertThat(budget.committed()).isLessThanOrEqualTo(4L * SHARE);
        now[0] += 20_000_000_000L;
        assertThat(budget.evictStalled())
                .as("the late one stalled 31 s, after the budget had room")
                .isEqualTo(1);
        assertThat(evicted).hasValue(101);
        late.close();
        BufferBudget.Lease quiet = budget.tryOpen();
        quiet.onEvict(() -> evicted.addAndGet(10_000));
        quiet.blocked(true);
        now[0] += 31_000_000_000L;
        assertThat(budget.evictStalled()).as("no pressure any more: nobody").isZero();
    }

    @Test
    void onlyStuckStreamsGiveWayNotThoseWaitingForAcknowledgements() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease unacked = budget.tryOpen();
        unacked.onEvict(() -> reset.add("unacked"));
        unacked.charge(SHARE); // read from its socket, the peer has not acknowledged it yet
        BufferBudget.Lease starved = budget.tryOpen();
        starved.onEvict(() -> reset.add("starved"));
        starved.starved(true); // bytes to send, no credit from the far side
        BufferBudget.Lease written = budget.tryOpen();
        written.onEvict(() -> reset.add("written"));
        written.chargeArrived(SHARE);
        written.written(SHARE); // its socket took what arrived
        BufferBudget.Lease fourth = budget.tryOpen();
        fourth.onEvict(() -> reset.add("fourth"));
        fourth.charge(1);
        now[0] += BufferBudget.PREEMPT_AFTER.toNanos() + 1;
        assertThat(budget.tryOpen()).isNotNull();
        assertThat(reset).as("the idle stream lent its share: nobody reset").isEmpty();
        assertThat(written.isDormant()).isTrue();
        assertThat(budget.tryOpen()).isNotNull();
        assertThat(reset).containsExactly("starved");
        assertThat(budget.tryOpen())
                .as("waiting for acknowledgements is not being stuck")
                .isNull();
        starved.starved(false);
    }

    @Test
    void aSourceHoldingMostStreamsGivesWayToAnotherEvenWhileItsStreamsMove() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        List<BufferBudget.Lease> flood = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            BufferBudget.Lease lease = budget.tryOpen("flooder");
            int n = i;
            lease.onEvict(() -> reset.add("flood " + n));
            flood.add(lease);
            now[0] += 1_000_000;
        }
        BufferBudget.Lease other = budget.tryOpen("other");
        other.onEvict(() -> reset.add("other"));
        // every stream moves, holding a little: nothing is stalled
        for (BufferBudget.Lease lease : flood) {
            lease.charge(200);
            lease.release(100);
            now[0] += 1_000_000;
        }
        flood.get(0).charge(100);
        flood.get(0).release(100); // the first moved last
        flood.get(6).release(100); // the last holds nothing and may read: idle, never taken
        assertThat(budget.tryOpen("flooder"))
                .as("the flooder cannot push itself in")
                .isNull();
        assertThat(budget.tryOpen("other")).as("other holds 1, the flooder 7").isNotNull();
        assertThat(reset).as("the flooder's least recently moving busy stream").containsExactly("flood 1");
        assertThat(budget.tryOpen("third")).isNotNull();
        assertThat(budget.tryOpen("third")).isNotNull();
        assertThat(budget.tryOpen("third")).as("the flooder holds 4, third 2").isNotNull();
        assertThat(budget.tryOpen("third"))
                .as("the flooder holds 3, third 3: not two more")
                .isNull();
        assertThat(budget.tryOpen(null))
                .as("no source: only stalled streams give way")
                .isNull();
        assertThat(reset).containsExactly("flood 1", "flood 2", "flood 3", "flood 4");
        assertThat(budget.displaced()).as("fairness takeovers, counted apart").isEqualTo(4);
        assertThat(budget.preempted()).as("nothing was stuck").isZero();
    }

    /**
     * BufferBudgetE2E's connection made before the flood comes from the flood's address: while it echoes it holds its
     * piece (read, not yet acknowledged) and the reply queued to its client, as much as a flood stream holds. It was
     * the one taken for another client (it held the most queued bytes): the least recently active goes first now.
     */
    @Test
    void fairnessTakesTheFloodersLeastRecentlyActiveStreamNotItsInteractiveOne() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            BufferBudget.Lease flood = budget.tryOpen("flooder");
            int n = i;
            flood.onEvict(() -> reset.add("flood " + n));
            flood.charge(SHARE); // read up to its share, then the budget stopped it
            now[0] += 10_000_000;
        }
        BufferBudget.Lease interactive = budget.tryOpen("flooder");
        interactive.onEvict(() -> reset.add("interactive"));
        now[0] += 500_000_000;
        interactive.charge(SHARE); // its piece, not yet acknowledged
        interactive.chargeArrived(SHARE); // and the previous reply, queued to its client
        assertThat(budget.tryOpen("other")).isNotNull();
        // two flood streams go (the interactive one borrowed a share beyond its own), oldest first
        assertThat(reset).containsExactly("flood 0", "flood 1");
    }

    @Test
    void aNewStreamTakesThePlaceOfAStalledOneWhenTheBudgetIsSpent() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<BufferBudget.Lease> flood = new ArrayList<>();
        List<String> reset = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            int n = i;
            lease.onEvict(() -> reset.add("flood " + n));
            lease.chargeArrived(SHARE / 2 + i); // queued to a socket that never takes them
            flood.add(lease);
        }
        BufferBudget.Lease moving = budget.tryOpen();
        moving.onEvict(() -> reset.add("moving"));
        BufferBudget.Lease idle = budget.tryOpen();
        idle.onEvict(() -> reset.add("idle"));
        assertThat(budget.tryOpen())
                .as("spent, and nothing stalled or idle long enough yet")
                .isNull();
        assertThat(budget.isSpent()).isTrue();
        assertThat(budget.idleWithin())
                .as("the idle stream will lend its share: wait, do not refuse")
                .isPositive();

        now[0] += BufferBudget.PREEMPT_AFTER.toNanos() + 1;
        moving.charge(SHARE);
        moving.release(SHARE); // moved just now
        assertThat(budget.isSpent()).as("a stalled stream can make room").isFalse();
        assertThat(budget.tryOpen()).as("the idle stream lends its share first").isNotNull();
        assertThat(reset).isEmpty();
        assertThat(idle.isDormant()).isTrue();
        assertThat(budget.lent()).isEqualTo(1);
        BufferBudget.Lease fresh = budget.tryOpen();
        assertThat(fresh).isNotNull();
        assertThat(reset)
                .as("the stalled stream holding the most bytes gave way")
                .containsExactly("flood 5");
        assertThat(flood.get(5).mayTake()).as("its lease is closed").isFalse();
        assertThat(budget.preempted()).isEqualTo(1);
        assertThat(budget.leases()).isEqualTo(9);
        assertThat(budget.held()).isEqualTo(5L * SHARE / 2 + 10);

        // the moving one is never taken; the flood's are, one per new stream
        for (int i = 0; i < 5; i++) {
            assertThat(budget.tryOpen()).isNotNull();
        }
        assertThat(reset).containsExactlyInAnyOrder("flood 0", "flood 1", "flood 2", "flood 3", "flood 4", "flood 5");
        assertThat(budget.tryOpen())
                .as("only new and moving streams left, and a dormant one")
                .isNull();
        assertThat(budget.committed()).isEqualTo(8L * SHARE);
    }

    @Test
    void rejectsASharesmallerThan1KiBOrALimitBelowFourShares() {
        assertThatThrownBy(() -> new BufferBudget(1 << 20, 512)).hasMessageContaining("share must be at least 1024");
        assertThatThrownBy(() -> new BufferBudget(3L * SHARE, SHARE)).hasMessageContaining("at least 4 shares");
    }
}
