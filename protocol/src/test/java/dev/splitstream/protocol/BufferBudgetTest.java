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
        assertThat(budget.isSpent()).isTrue();
        assertThat(budget.tryOpen()).isNull();
        assertThat(budget.refused()).isEqualTo(1);
        assertThat(budget.describe()).contains("0.1 MiB of 0.1 MiB committed by 8 streams");
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

    /**
     * A socket read past the share (BudgetedReads in the bridge) is reserved in the committed bytes, and granted only
     * while they stay within half the limit with it: such reads happen far from the ceiling, so the bound stands.
     */
    @Test
    void aReadLargerThanAShareIsReservedWhileTheBudgetIsLessThanHalfCommitted() {
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE);
        BufferBudget.Lease bulk = budget.tryOpen();
        BufferBudget.Lease other = budget.tryOpen();
        assertThat(bulk.reserveRead(3L * SHARE))
                .as("4 of 8 shares committed with it")
                .isFalse();
        assertThat(budget.committed())
                .as("a refused reservation counts nothing")
                .isEqualTo(2L * SHARE);
        assertThat(bulk.reserveRead(2L * SHARE))
                .as("exactly half the limit with it")
                .isTrue();
        assertThat(budget.committed()).isEqualTo(4L * SHARE);
        assertThat(other.reserveRead(1)).as("past half the limit").isFalse();

        assertThat(bulk.charge(3L * SHARE)).as("the read it reserved for").isTrue();
        assertThat(budget.committed()).as("the charge replaces the reservation").isEqualTo(4L * SHARE);
        assertThat(bulk.held()).isEqualTo(3L * SHARE);

        bulk.release(3L * SHARE);
        assertThat(bulk.reserveRead(SHARE)).isTrue();
        assertThat(bulk.reserveRead(2L * SHARE))
                .as("a new reservation replaces the last")
                .isTrue();
        assertThat(budget.committed()).isEqualTo(4L * SHARE);
        bulk.endRead();
        assertThat(budget.committed()).as("a read that used none of it").isEqualTo(2L * SHARE);

        assertThat(bulk.reserveRead(2L * SHARE)).isTrue();
        bulk.close();
        assertThat(budget.committed()).as("closing drops the reservation").isEqualTo(SHARE);
        assertThat(bulk.reserveRead(SHARE)).as("a closed lease").isFalse();
        other.close();
        assertThat(budget.committed()).isZero();
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
        BufferBudget.Lease other = budget.tryOpen();
        // committed: two shares plus the 14 shares past the first one's share make twice the limit
        assertThat(lease.chargeArrived(15L * SHARE)).isTrue();
        assertThat(budget.committed()).isEqualTo(2 * budget.limit());
        assertThat(lease.chargeArrived(1)).isFalse();
        assertThat(lease.chargeArrived(1)).isFalse();
        assertThat(budget.overruns()).as("a stream refused twice counts once").isEqualTo(1);
        assertThat(budget.held()).isEqualTo(15L * SHARE);
        lease.release(SHARE);
        assertThat(lease.chargeArrived(SHARE)).isTrue();
        assertThat(other.chargeArrived(SHARE)).as("within its share").isTrue();
        assertThat(other.chargeArrived(1)).isFalse();
        assertThat(budget.overruns()).isEqualTo(2);
    }

    @Test
    void aRandomWalkOfReadsArrivalsAndReleasesHoldsAtMostTwiceTheLimit() {
        // random schedules stay far from the worst case (bytesHeldReachAtMostThreeAndAHalfTimes...): the bound needs
        // arrivals first, then reads stopping one byte short of each share
        BufferBudget budget = new BufferBudget(64L * SHARE, SHARE);
        Random random = new Random(11);
        List<BufferBudget.Lease> leases = new ArrayList<>();
        long maxHeld = 0;
        for (int step = 0; step < 200_000; step++) {
            int op = random.nextInt(10);
            if (op == 0) {
                BufferBudget.Lease lease = budget.tryOpen();
                if (lease != null) {
                    leases.add(lease);
                }
            } else if (op == 1 && !leases.isEmpty()) {
                leases.remove(random.nextInt(leases.size())).close();
            } else if (op < 6 && !leases.isEmpty()) {
                // a socket read of at most one share, only while the stream may read
                BufferBudget.Lease lease = leases.get(random.nextInt(leases.size()));
                if (lease.mayTake()) {
                    lease.charge(1 + random.nextInt(SHARE));
                }
            } else if (op < 8 && !leases.isEmpty()) {
                BufferBudget.Lease lease = leases.get(random.nextInt(leases.size()));
                lease.chargeArrived(1 + random.nextInt(4 * SHARE));
            } else if (!leases.isEmpty()) {
                BufferBudget.Lease lease = leases.get(random.nextInt(leases.size()));
                lease.release(random.nextInt(2 * SHARE));
            }
            maxHeld = Math.max(maxHeld, budget.held());
            assertThat(budget.committed()).isLessThanOrEqualTo(2 * budget.limit());
        }
        assertThat(maxHeld).isLessThanOrEqualTo(2 * budget.limit()).isGreaterThan(budget.limit());
        leases.forEach(BufferBudget.Lease::close);
        assertThat(budget.held()).isZero();
        assertThat(budget.committed()).isZero();
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
        now[0] += BufferBudget.PREEMPT_AFTER.toNanos() + 1;
        // the two streams that hold nothing moved just now: not idle, so they lend nothing
        written.chargeArrived(1);
        written.written(1);
        fourth.charge(1);
        fourth.release(1);
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
        flood.get(6).release(100); // the last holds nothing, but its share spends the budget all the same
        assertThat(budget.tryOpen("flooder"))
                .as("the flooder cannot push itself in")
                .isNull();
        assertThat(budget.tryOpen("other")).as("other holds 1, the flooder 7").isNotNull();
        assertThat(reset)
                .as("the flooder's stream opened last, holding nothing")
                .containsExactly("flood 6");
        assertThat(flood.get(6).evictedFor())
                .startsWith("fairness: its client flooder holds 7 streams")
                .contains("held 0 bytes");
        assertThat(flood.get(5).evictedFor()).isEmpty();
        assertThat(budget.tryOpen("third")).isNotNull();
        assertThat(budget.tryOpen("third")).isNotNull();
        assertThat(budget.tryOpen("third")).as("the flooder holds 4, third 2").isNotNull();
        assertThat(budget.tryOpen("third"))
                .as("the flooder holds 3, third 3: not two more")
                .isNull();
        assertThat(budget.tryOpen(null))
                .as("no source: only stalled streams give way")
                .isNull();
        assertThat(reset).containsExactly("flood 6", "flood 5", "flood 4", "flood 3");
        assertThat(budget.displaced()).as("fairness takeovers, counted apart").isEqualTo(4);
        assertThat(budget.preempted()).as("nothing was stuck").isZero();
    }

    @Test
    void aStreamOpenedBeforeAFloodFromItsAddressKeepsItsPlaceWhileItHoldsTheMost() {
        // BufferBudgetE2E: the interactive connection shares the flood's address and, waiting for its echo, holds its
        // whole 16 KiB piece; "most held, then least recently moving" chose it (reset after 1 and 7 pieces)
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease interactive = budget.tryOpen("127.0.0.1");
        interactive.onEvict(() -> reset.add("interactive"));
        interactive.charge(SHARE);
        for (int i = 0; i < 7; i++) {
            now[0] += 1_000_000;
            BufferBudget.Lease lease = budget.tryOpen("127.0.0.1");
            int n = i;
            lease.onEvict(() -> reset.add("flood " + n));
            lease.charge(SHARE / 2);
        }
        now[0] += 1_000_000;
        interactive.release(1); // acknowledged a moment ago: nothing is stuck
        interactive.charge(1);
        for (int i = 0; i < 3; i++) {
            assertThat(budget.tryOpen("127.0.0.2")).isNotNull();
        }
        assertThat(reset).containsExactly("flood 6", "flood 5", "flood 4");
        assertThat(budget.displaced()).isEqualTo(3);
    }

    @Test
    void floodStreamsHoldingNothingGiveWayBeforeTheInteractiveStreamTheirAddressHasWhichItsPeerAnswers() {
        // BufferBudgetE2E (e4b11a2, 2 runs of 6): the flood's streams from 127.0.0.1 had their bytes acknowledged and
        // held nothing (the node held 0.0 MiB: their shares spent the budget), neither stuck nor without credit; the
        // interactive stream from the same address held its pieces until their acknowledgement (16-160 KiB), so it
        // was the only stream fairness could take, and was reset. It receives its echoes; the flood receives nothing.
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        List<BufferBudget.Lease> flood = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            BufferBudget.Lease lease = budget.tryOpen("127.0.0.1");
            int n = i;
            lease.onEvict(() -> reset.add("flood " + n));
            lease.charge(SHARE);
            lease.release(SHARE); // sent and acknowledged: holds nothing, may read
            flood.add(lease);
            now[0] += 1_000_000;
        }
        // opened after the flood's streams, so "opened last" alone would choose it
        BufferBudget.Lease interactive = budget.tryOpen("127.0.0.1");
        interactive.onEvict(() -> reset.add("interactive"));
        interactive.charge(SHARE);
        interactive.chargeArrived(SHARE); // an echo
        interactive.written(SHARE);
        interactive.charge(SHARE); // the next piece, waiting for its acknowledgement
        now[0] += 5_000_000_000L; // acknowledgements lag seconds under a flood; nothing is stuck, nothing idle
        for (BufferBudget.Lease lease : flood) {
            lease.charge(1);
            lease.release(1);
        }
        for (int i = 0; i < 4; i++) {
            assertThat(budget.tryOpen("127.0.0.2")).isNotNull();
        }
        assertThat(reset).containsExactly("flood 6", "flood 5", "flood 4", "flood 3");
        assertThat(flood.get(6).evictedFor()).contains("held 0 bytes").contains("nothing received from its peer");
        assertThat(budget.displaced()).isEqualTo(4);
        assertThat(budget.preempted()).isZero();
    }

    @Test
    void aNewStreamEndsOneStreamHoldingNothingNotAsManyAsOtherStreamsBorrowedPastTheLimit() {
        // BufferBudgetE2E (e4b11a2): with bytes borrowed past the limit, one newcomer reset streams until all of it was
        // free again (186-626 resets per 5 s sweep). Its share is all it needs: one stream's freed share.
        long[] now = {0};
        BufferBudget budget = new BufferBudget(16L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease interactive = budget.tryOpen("127.0.0.1");
        interactive.onEvict(() -> reset.add("interactive"));
        for (int i = 0; i < 15; i++) {
            BufferBudget.Lease lease = budget.tryOpen("127.0.0.1");
            int n = i;
            lease.onEvict(() -> reset.add("flood " + n));
            now[0] += 1_000_000;
        }
        assertThat(interactive.chargeArrived(8L * SHARE)).isTrue(); // 7 shares past its own, queued to its socket
        long committed = budget.committed();
        assertThat(committed).isEqualTo(23L * SHARE);

        assertThat(budget.tryOpen("127.0.0.2")).isNotNull();
        assertThat(reset).as("one stream for one new stream").containsExactly("flood 14");
        assertThat(budget.displaced()).isEqualTo(1);
        assertThat(budget.committed()).as("committed bytes do not grow").isEqualTo(committed);
        assertThat(budget.tryOpen(null))
                .as("no stream stuck, no source: refused")
                .isNull();
        assertThat(budget.tryOpen("127.0.0.2")).isNotNull();
        assertThat(reset).containsExactly("flood 14", "flood 13");
        assertThat(budget.committed()).isEqualTo(committed);
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
                .as("spent, and nothing stalled long enough yet")
                .isNull();
        assertThat(budget.isSpent()).isTrue();

        now[0] += BufferBudget.PREEMPT_AFTER.toNanos() + 1;
        moving.charge(SHARE);
        moving.release(SHARE); // moved just now
        assertThat(budget.isSpent()).as("a stalled stream can make room").isFalse();
        BufferBudget.Lease fresh = budget.tryOpen();
        assertThat(fresh).isNotNull();
        assertThat(reset)
                .as("the idle stream lends its share first: nobody is reset")
                .isEmpty();
        assertThat(idle.isDormant()).isTrue();
        assertThat(budget.lent()).isEqualTo(1);
        assertThat(budget.tryOpen()).isNotNull();
        assertThat(reset)
                .as("then the stalled stream holding the most bytes gave way")
                .containsExactly("flood 5");
        assertThat(flood.get(5).mayTake()).as("its lease is closed").isFalse();
        assertThat(budget.preempted()).isEqualTo(1);
        assertThat(budget.leases()).isEqualTo(9);
        assertThat(budget.held()).isEqualTo(5L * SHARE / 2 + 10);

        // the idle (now dormant) stream and the moving one are never reset; the flood's are, one per new stream
        for (int i = 0; i < 5; i++) {
            assertThat(budget.tryOpen()).isNotNull();
        }
        assertThat(reset).containsExactlyInAnyOrder("flood 0", "flood 1", "flood 2", "flood 3", "flood 4", "flood 5");
        assertThat(budget.tryOpen())
                .as("only new, moving and dormant streams left")
                .isNull();
        assertThat(budget.committed()).isEqualTo(8L * SHARE);
    }

    @Test
    void idleStreamsLendTheirShareToNewOnesAndClaimOneBackWhenTheyMove() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(8L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        List<BufferBudget.Lease> pool = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            BufferBudget.Lease lease = budget.tryOpen("pool");
            int n = i;
            lease.onEvict(() -> reset.add("pool " + n));
            pool.add(lease);
        }
        assertThat(budget.tryOpen("pool"))
                .as("spent, and nobody idle long enough yet")
                .isNull();

        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        BufferBudget.Lease fresh = budget.tryOpen("pool");
        assertThat(fresh).isNotNull();
        assertThat(pool.get(0).isDormant())
                .as("the longest idle lent its share")
                .isTrue();
        assertThat(budget.dormant()).isEqualTo(1);
        assertThat(budget.leases()).isEqualTo(9);
        assertThat(budget.committed()).isEqualTo(8L * SHARE);

        // the dormant stream moves: it claims a share back from another idle stream
        assertThat(pool.get(0).charge(100)).isTrue();
        assertThat(pool.get(0).isDormant()).isFalse();
        assertThat(pool.get(1).isDormant()).isTrue();
        assertThat(budget.lent()).isEqualTo(2);
        assertThat(budget.held()).isEqualTo(100);
        pool.get(0).release(100);

        // at most maxDormant (half the shares) at once: 12 streams open on 8 shares
        for (int i = 0; i < 3; i++) {
            assertThat(budget.tryOpen("pool")).isNotNull();
        }
        assertThat(budget.dormant()).isEqualTo(budget.maxDormant()).isEqualTo(4);
        assertThat(budget.leases()).isEqualTo(12);
        assertThat(budget.tryOpen("pool")).as("four dormant already").isNull();
        assertThat(reset).as("nobody was reset").isEmpty();
        assertThat(budget.committed()).isEqualTo(8L * SHARE);
    }

    @Test
    void aDormantStreamThatFindsNoShareWaitsWithoutBeingResetUntilOneCanBeLent() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        List<BufferBudget.Lease> leases = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            int n = i;
            lease.onEvict(() -> reset.add("lease " + n));
            leases.add(lease);
        }
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        BufferBudget.Lease fresh = budget.tryOpen();
        assertThat(fresh).isNotNull();
        BufferBudget.Lease sleeper = leases.get(0);
        assertThat(sleeper.isDormant()).isTrue();
        // everybody else moves now: no idle stream is left to lend a share
        for (BufferBudget.Lease lease : List.of(leases.get(1), leases.get(2), leases.get(3), fresh)) {
            lease.charge(1);
            lease.release(1);
        }
        assertThat(sleeper.charge(SHARE / 2))
                .as("no share to claim: stop reading")
                .isFalse();
        assertThat(sleeper.isDormant()).isTrue();
        AtomicInteger woke = new AtomicInteger();
        sleeper.whenMayTake(woke::incrementAndGet);
        budget.evictStalled();
        assertThat(woke).as("nothing to claim yet").hasValue(0);

        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        budget.evictStalled(); // the sweep finds idle streams again
        assertThat(woke).hasValue(1);
        assertThat(sleeper.charge(1)).isTrue();
        assertThat(sleeper.isDormant()).as("it claimed a share back").isFalse();
        assertThat(budget.dormant()).isEqualTo(1);
        assertThat(reset).as("nobody was reset").isEmpty();
    }

    /**
     * A dormant stream that cannot read because the budget has no share to give back (a public connection that waited
     * for its agent through a flood, then found the budget spent) is not a stalled stream: ending it makes no room. The
     * sweep ends the streams that hold bytes, and the dormant one claims the room that makes.
     */
    @Test
    void aDormantStreamBlockedForAShareOutlivesTheStallTimeAndClaimsTheRoomTheSweepMakes() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(5), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease waiting = budget.tryOpen();
        waiting.onEvict(() -> reset.add("waiting"));
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        List<BufferBudget.Lease> flood = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            assertThat(lease).isNotNull();
            int n = i;
            lease.onEvict(() -> {
                reset.add("flood " + n);
                lease.close(); // as the bridge does once its socket closes
            });
            flood.add(lease);
        }
        assertThat(waiting.isDormant()).as("it lent its share to the flood").isTrue();
        // the flood's streams hold their bytes (sent, never acknowledged) and may not read more
        for (BufferBudget.Lease lease : flood) {
            lease.charge(SHARE);
            lease.blocked(true);
        }
        // the agent is back: the waiting connection reads, finds no share, and stops; its bytes are acknowledged
        assertThat(waiting.charge(1000)).isFalse();
        waiting.blocked(true);
        AtomicInteger woke = new AtomicInteger();
        waiting.whenMayTake(woke::incrementAndGet);
        waiting.release(1000);

        now[0] += 6_000_000_000L; // past the stall time for everybody
        assertThat(budget.evictStalled()).as("the four flood streams").isEqualTo(4);
        assertThat(reset).containsExactly("flood 0", "flood 1", "flood 2", "flood 3");
        assertThat(woke).as("woken by the room their end made").hasValue(1);
        assertThat(waiting.charge(SHARE)).isTrue();
        assertThat(waiting.isDormant()).isFalse();
    }

    /**
     * A dormant stream that does not wait for a share but cannot go on (its client left, the far side never answers: a
     * flood's stream after the flood) still ends once stalled, or the flood's streams would never end.
     */
    @Test
    void aDormantStreamBlockedForAnotherReasonThanAShareStillEndsOnceStalled() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(5), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease left = budget.tryOpen();
        left.onEvict(() -> reset.add("left"));
        for (int i = 0; i < 3; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            lease.onEvict(() -> reset.add("holder"));
            lease.charge(SHARE); // they hold bytes: the budget is under pressure, and nobody else is idle
        }
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        assertThat(budget.tryOpen()).isNotNull();
        assertThat(left.isDormant()).as("idle, it lent its share").isTrue();
        left.blocked(true); // its client's FIN came, and the far side does not finish
        now[0] += 6_000_000_000L;
        budget.evictStalled();
        assertThat(reset).contains("left");
    }

    /** A dormant stream that a sweep wakes to claim a share back is not ended by that sweep, even holding bytes. */
    @Test
    void aDormantStreamASweepWakesIsNotEndedByThatSweep() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(5), () -> now[0]);
        List<String> reset = new ArrayList<>();
        BufferBudget.Lease sleeper = budget.tryOpen();
        sleeper.onEvict(() -> reset.add("sleeper"));
        List<BufferBudget.Lease> others = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            others.add(budget.tryOpen());
        }
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        others.add(budget.tryOpen());
        assertThat(sleeper.isDormant()).isTrue();
        for (BufferBudget.Lease lease : others) {
            lease.onEvict(() -> reset.add("other"));
            lease.charge(1);
            lease.release(1);
        }
        // it reads, finds no share (nobody idle, nobody stuck), stops, and its bytes wait for their acknowledgement
        assertThat(sleeper.charge(SHARE)).isFalse();
        sleeper.blocked(true);
        AtomicInteger woke = new AtomicInteger();
        sleeper.whenMayTake(woke::incrementAndGet);

        now[0] += 6_000_000_000L; // the others are idle now; the sleeper has been blocked past the stall time
        assertThat(budget.evictStalled()).isZero();
        assertThat(woke).as("an idle stream may lend it a share now").hasValue(1);
        assertThat(reset).isEmpty();
        sleeper.release(SHARE); // its bytes are acknowledged
        assertThat(sleeper.charge(1)).as("it claims a share back and reads").isTrue();
        assertThat(sleeper.isDormant()).isFalse();
    }

    @Test
    void aStuckStreamThatMovedBytesLatelyIsNotChosenToGiveWay() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(4L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<String> reset = new ArrayList<>();
        List<BufferBudget.Lease> leases = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            int n = i;
            lease.onEvict(() -> reset.add("lease " + n));
            lease.charge(SHARE / 2); // holds bytes: never idle
            leases.add(lease);
        }
        leases.get(0).chargeArrived(SHARE / 4); // queued to a socket that takes nothing: stuck from now on
        now[0] += BufferBudget.PREEMPT_AFTER.toNanos() + 1;
        leases.get(0).chargeArrived(1); // but bytes still arrive for it
        assertThat(budget.tryOpen()).as("it moved bytes lately").isNull();
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        assertThat(budget.tryOpen()).isNotNull();
        assertThat(reset).containsExactly("lease 0");
    }

    @Test
    void bytesHeldReachAtMostThreeAndAHalfTimesTheLimitAndThisScheduleReachesIt() {
        long[] now = {0};
        long limit = 8L * SHARE;
        BufferBudget budget = new BufferBudget(limit, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        List<BufferBudget.Lease> first = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            BufferBudget.Lease lease = budget.tryOpen();
            lease.onEvict(() -> {
                throw new AssertionError("nobody is reset here");
            });
            first.add(lease);
        }
        now[0] += BufferBudget.IDLE_AFTER.toNanos();
        List<BufferBudget.Lease> later = new ArrayList<>();
        for (int i = 0; i < budget.maxDormant(); i++) {
            later.add(budget.tryOpen()); // each takes an idle stream's share
        }
        List<BufferBudget.Lease> dormant = first.subList(0, 4);
        assertThat(dormant).allMatch(BufferBudget.Lease::isDormant);
        assertThat(budget.leases()).isEqualTo(12);

        // one stream receives past its share up to the ceiling: committed reaches twice the limit
        BufferBudget.Lease big = first.get(4);
        int arrivals = 0;
        while (big.chargeArrived(SHARE)) {
            arrivals++;
        }
        assertThat(arrivals).isEqualTo(9);
        assertThat(budget.committed()).isEqualTo(2 * limit);
        // the read it had begun before lands
        big.charge(SHARE);
        // every other stream with a share reads below its share, and once more from just below it
        List<BufferBudget.Lease> others = new ArrayList<>(first.subList(5, 8));
        others.addAll(later);
        for (BufferBudget.Lease lease : others) {
            assertThat(lease.mayTake()).isTrue();
            assertThat(lease.charge(SHARE - 1)).isTrue();
            assertThat(lease.charge(SHARE)).isFalse();
        }
        // every dormant stream's read (begun while it was idle) lands, and it finds no share to claim back
        for (BufferBudget.Lease lease : dormant) {
            assertThat(lease.charge(SHARE)).isFalse();
            assertThat(lease.isDormant()).isTrue();
        }
        // 2 * limit + leases * share, less one byte per stream that read from just below its share
        assertThat(budget.held()).isEqualTo(2 * limit + 12L * SHARE - 7).isLessThanOrEqualTo(limit * 7 / 2);
        assertThat(budget.leases() * (long) SHARE).isEqualTo(limit * 3 / 2);
        for (BufferBudget.Lease lease : first) {
            assertThat(lease.mayTake()).isFalse();
        }
        for (BufferBudget.Lease lease : later) {
            assertThat(lease.mayTake()).isFalse();
        }
    }

    @Test
    void heldNeverExceedsThreeAndAHalfTimesTheLimitWhateverStreamsDoAndTimeBrings() {
        long[] now = {0};
        BufferBudget budget = new BufferBudget(64L * SHARE, SHARE, java.time.Duration.ofSeconds(30), () -> now[0]);
        Random random = new Random(17);
        List<BufferBudget.Lease> leases = new ArrayList<>();
        java.util.Map<BufferBudget.Lease, boolean[]> reading = new java.util.HashMap<>();
        long maxHeld = 0;
        int maxLeases = 0;
        for (int step = 0; step < 300_000; step++) {
            int op = random.nextInt(12);
            // the first 16 streams of the list are busy; the others were opened and mostly stay idle (a pool of idle
            // connections), so their shares may be lent
            BufferBudget.Lease lease = leases.isEmpty()
                    ? null
                    : leases.get(random.nextInt(random.nextInt(16) > 0 ? Math.min(16, leases.size()) : leases.size()));
            if (op == 0 || (op == 1 && random.nextBoolean())) {
                // one address opens most streams, so fairness (one stream of it for each other client's new one)
                // and preemption take their turns, each swapping a freed share for the new stream's
                BufferBudget.Lease opened =
                        budget.tryOpen(random.nextInt(4) == 0 ? "client " + random.nextInt(3) : "flooder");
                if (opened != null) {
                    // most streams are busy; the rest open and then mostly stay idle (pools of idle connections)
                    leases.add(opened);
                    reading.put(opened, new boolean[] {true});
                    opened.onEvict(() -> {
                        opened.close();
                        leases.remove(opened);
                    });
                }
            } else if (lease == null) {
                continue;
            } else if (op == 1) {
                leases.remove(lease);
                lease.close();
            } else if (op < 6) {
                // a socket read of at most one share, only while the stream reads (see the read contract)
                boolean[] on = reading.get(lease);
                if (on[0] && !lease.charge(1 + random.nextInt(SHARE))) {
                    on[0] = false;
                    lease.whenMayTake(() -> on[0] = true);
                }
            } else if (op < 8) {
                if (!lease.chargeArrived(1 + random.nextInt(4 * SHARE))) {
                    leases.remove(lease); // the caller resets the stream
                    lease.close();
                }
            } else if (op == 8) {
                lease.release(random.nextInt(2 * SHARE));
            } else if (op == 9) {
                lease.starved(random.nextBoolean());
            } else if (op == 10) {
                now[0] += random.nextInt(1_000_000_000);
            } else {
                budget.evictStalled();
            }
            maxHeld = Math.max(maxHeld, budget.held());
            maxLeases = Math.max(maxLeases, budget.leases());
            assertThat(budget.held()).isLessThanOrEqualTo(budget.limit() * 7 / 2);
            assertThat(budget.leases()).isLessThanOrEqualTo(96);
            assertThat(budget.leases() - budget.dormant())
                    .as("streams with a share")
                    .isLessThanOrEqualTo(64);
        }
        assertThat(maxHeld).isGreaterThan(budget.limit());
        assertThat(budget.displaced()).as("streams that gave way for fairness").isPositive();
        assertThat(budget.preempted()).as("stuck streams that gave way").isPositive();
        assertThat(maxLeases).as("idle streams lent their shares").isGreaterThan(64);
        new ArrayList<>(leases).forEach(BufferBudget.Lease::close);
        assertThat(budget.held()).isZero();
        assertThat(budget.committed()).isZero();
        assertThat(budget.dormant()).isZero();
    }

    @Test
    void rejectsASharesmallerThan1KiBOrALimitBelowFourShares() {
        assertThatThrownBy(() -> new BufferBudget(1 << 20, 512)).hasMessageContaining("share must be at least 1024");
        assertThatThrownBy(() -> new BufferBudget(3L * SHARE, SHARE)).hasMessageContaining("at least 4 shares");
    }
}
