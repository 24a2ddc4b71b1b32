package dev.splitstream.exit.registry;

import io.vertx.core.Future;
import java.net.URI;
import java.util.List;

/**
 * What the replicas of an exit node share: which replica owns which session, the replicas' internal URLs and
 * heartbeats, and the audit log. {@link MemoryRegistry} for a single node, {@link PostgresRegistry} for replicas.
 *
 * <p>Every recording method returns at once (hot paths never wait on a database); writes happen later, batched, on the
 * registry's own thread. Only {@link #ownerOf} is asked for an answer, and it completes off the event loop.
 */
public interface ExitRegistry {
    /** This replica's id (also the suffix of the HTTP transport's handshake and leg ids). */
    String replicaId();

    /** True when other replicas may hold sessions (a shared registry), so legs may need relaying. */
    boolean clustered();

    /** A session opened on this replica. */
    void sessionOpened(SessionInfo session);

    /** A session of this replica ended. */
    void sessionClosed(String sessionId);

    /** Records one audit event. Never blocks; under a long database outage the oldest unsent events are dropped (counted). */
    void audit(AuditEvent event);

    /** Audit events dropped so far because they could not be stored in time (never in memory mode). */
    default long auditDropped() {
        return 0;
    }

    /** Which live replica owns {@code sessionId}: completes with {@link OwnerLookup}, never fails. */
    Future<OwnerLookup> ownerOf(String sessionId);

    /**
     * The live replica {@code replicaId} (kind OWNER with its internal URL), from the replicas this one knows, or the
     * database when it is new; completes off the event loop, never fails.
     */
    Future<OwnerLookup> replica(String replicaId);

    /** Starts heart-beating and writing (at start-up). */
    default void start() {}

    /** Marks this replica stopped and writes what is pending, for a bounded time (at shutdown). */
    default void stop() {}

    /** The registry's state, for readiness. */
    Status status();

    /** The newest audit events, newest last (views and tests); at most {@code max}. */
    List<AuditEvent> recentAudit(int max);

    /**
     * State of the registry.
     *
     * @param available true while the registry can answer hand-off look-ups
     * @param detail a human-readable description (no secret)
     */
    record Status(boolean available, String detail) {}

    /** A session as the registry records it (never its key). */
    record SessionInfo(String sessionId, String tokenId, String transport, String remoteAddress) {}

    /**
     * Answer of {@link #ownerOf}.
     *
     * @param kind the answer
     * @param replicaId the owner (kind OWNER)
     * @param url the owner's internal URL (kind OWNER)
     * @param detail why (other kinds)
     */
    record OwnerLookup(Kind kind, String replicaId, URI url, String detail) {
        public enum Kind {
            /** Another live replica owns the session. */
            OWNER,
            /** No live replica owns it: unknown, closed, or its owner stopped heart-beating. */
            UNKNOWN,
            /** The registry cannot answer now (database unreachable): no hand-off. */
            UNAVAILABLE
        }

        public static OwnerLookup unknown(String detail) {
            return new OwnerLookup(Kind.UNKNOWN, null, null, detail);
        }

        public static OwnerLookup unavailable(String detail) {
            return new OwnerLookup(Kind.UNAVAILABLE, null, null, detail);
        }
    }
}
