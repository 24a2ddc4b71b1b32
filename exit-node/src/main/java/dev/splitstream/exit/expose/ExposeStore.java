package dev.splitstream.exit.expose;

import io.vertx.core.Future;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The exit's expose state that must outlive a session and, with replicas, be shared: port leases and agents. Live
 * things (sessions, listeners, waiting connections) stay in {@link ExposeService}. Implementations must make
 * {@link #claim} atomic (one port, one holder); everything else is plain reads and writes. Thread-safe.
 *
 * <p>{@link MemoryExposeStore} is the single-node implementation; {@link PostgresExposeStore} (replicas) keeps the same
 * view in memory, writes it behind, imports other replicas' changes, and decides new grants in the database.
 */
public interface ExposeStore {

    /** Why a claim failed. */
    enum Refusal {
        /** The requested port is leased to another identity. */
        PORT_TAKEN,
        /** Every port of the allowed range is leased. */
        RANGE_FULL,
        /** The shared registry cannot decide now (database unreachable, or another replica granted at once). */
        UNAVAILABLE
    }

    /**
     * Outcome of {@link #claim}.
     *
     * @param lease the lease now held (renewed: no expiry), when granted
     * @param refusal why not, when refused
     * @param holder for PORT_TAKEN, who holds the port
     * @param detail for UNAVAILABLE, why (no secret)
     */
    record Claim(Optional<Lease> lease, Optional<Refusal> refusal, Optional<ServiceKey> holder, String detail) {
        static Claim granted(Lease lease) {
            return new Claim(Optional.of(lease), Optional.empty(), Optional.empty(), null);
        }

        static Claim refused(Refusal why, ServiceKey holder) {
            return new Claim(Optional.empty(), Optional.of(why), Optional.ofNullable(holder), null);
        }

        static Claim unavailable(String detail) {
            return new Claim(Optional.empty(), Optional.of(Refusal.UNAVAILABLE), Optional.empty(), detail);
        }
    }

    /**
     * Atomically gives {@code key} a port and marks the lease live (no expiry): its current lease when it holds one and
     * either {@code requested} is 0 or equals it; else {@code requested} when it is free (or its lease expired at
     * {@code now}); else, when {@code requested} is 0, the lowest free port of {@code low..high} not in
     * {@code avoid}. A lease of {@code key} on another port is given up when a different port is requested and
     * granted.
     */
    Claim claim(ServiceKey key, int requested, int low, int high, java.util.Set<Integer> avoid, Instant now);

    /**
     * {@link #claim}, answered later when the decision needs a shared database: the caller never waits for it. The
     * future completes on the caller's Vert.x context.
     */
    default Future<Claim> acquire(
            ServiceKey key, int requested, int low, int high, java.util.Set<Integer> avoid, Instant now) {
        return Future.succeededFuture(claim(key, requested, low, high, avoid, now));
    }

    /** True when other replicas share this state (their leases are served here too, their agents relayed to). */
    default boolean shared() {
        return false;
    }

    /** The other live replica serving {@code agent} now (its session is there), if any. */
    default Optional<String> remoteOwner(String agent) {
        return Optional.empty();
    }

    /** Calls {@code listener} (on any thread) after other replicas' changes were imported. */
    default void onChange(Runnable listener) {}

    /** Loads the shared state and starts writing (at start-up). */
    default void start() {}

    /** Writes what is pending, for a bounded time (at shutdown). */
    default void stop() {}

    /** Starts the countdown of {@code key}'s lease: it expires at {@code expires} unless claimed again. */
    void disconnect(ServiceKey key, Instant expires);

    /** Frees {@code key}'s lease now. Returns the freed lease, if there was one. */
    Optional<Lease> release(ServiceKey key);

    /** The lease of {@code key}, if any (expired or not). */
    Optional<Lease> lease(ServiceKey key);

    /** Every lease (expired ones included until {@link #expire} removes them). */
    List<Lease> leases();

    /** Removes and returns leases expired at {@code now}. */
    List<Lease> expire(Instant now);

    /** Saves (replaces) an agent. */
    void putAgent(AgentRecord agent);

    /** The agent named {@code name}, if known. */
    Optional<AgentRecord> agent(String name);

    /** Every known agent, by name. */
    List<AgentRecord> agents();

    /** Forgets the agent named {@code name}. */
    void removeAgent(String name);
}
