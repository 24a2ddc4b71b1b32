package dev.splitstream.exit.registry;

import java.time.Instant;

/**
 * One row of the audit log: who (token) connected from where, to which target or through which replica, how many
 * bytes, how it ended and how long it took. Kinds: {@code session} (a session ended: bytes and duration), {@code dial}
 * (a stream asked for a target: allowed or refused), {@code refused} (a handshake refused, e.g. a RESUME of a session
 * whose owner is gone), {@code relay} (a leg or request relayed to the owning replica).
 */
public record AuditEvent(
        Instant at,
        String kind,
        String sessionId,
        String tokenId,
        String remoteAddress,
        String transport,
        String target,
        long bytesUp,
        long bytesDown,
        String outcome,
        long durationMs,
        String detail) {

    public static AuditEvent of(String kind, String sessionId, String tokenId, String outcome) {
        return new AuditEvent(Instant.now(), kind, sessionId, tokenId, null, null, null, 0, 0, outcome, 0, null);
    }

    public AuditEvent withRemote(String remote, String transportName) {
        return new AuditEvent(
                at,
                kind,
                sessionId,
                tokenId,
                remote,
                transportName,
                target,
                bytesUp,
                bytesDown,
                outcome,
                durationMs,
                detail);
    }

    public AuditEvent withTarget(String t) {
        return new AuditEvent(
                at,
                kind,
                sessionId,
                tokenId,
                remoteAddress,
                transport,
                t,
                bytesUp,
                bytesDown,
                outcome,
                durationMs,
                detail);
    }

    public AuditEvent withBytes(long up, long down, long millis) {
        return new AuditEvent(
                at, kind, sessionId, tokenId, remoteAddress, transport, target, up, down, outcome, millis, detail);
    }

    public AuditEvent withDetail(String d) {
        return new AuditEvent(
                at,
                kind,
                sessionId,
                tokenId,
                remoteAddress,
                transport,
                target,
                bytesUp,
                bytesDown,
                outcome,
                durationMs,
                d);
    }
}
