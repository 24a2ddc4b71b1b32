package dev.splitstream.exit.registry;

import io.vertx.core.Future;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.jboss.logging.Logger;

/**
 * The single node's registry (the embedded default): nothing is shared, so no session is ever owned elsewhere. The
 * audit log is the last {@value #AUDIT_KEPT} events in memory and DEBUG lines of category
 * {@code dev.splitstream.exit.audit}.
 */
public final class MemoryRegistry implements ExitRegistry {
    static final int AUDIT_KEPT = 1000;
    private static final Logger AUDIT = Logger.getLogger("dev.splitstream.exit.audit");

    private final String replicaId;
    private final ArrayDeque<AuditEvent> audit = new ArrayDeque<>();

    public MemoryRegistry(String replicaId) {
        this.replicaId = replicaId;
    }

    @Override
    public String replicaId() {
        return replicaId;
    }

    @Override
    public boolean clustered() {
        return false;
    }

    @Override
    public void sessionOpened(SessionInfo session) {}

    @Override
    public void sessionClosed(String sessionId) {}

    @Override
    public void audit(AuditEvent event) {
        AUDIT.debugf("%s", event);
        synchronized (audit) {
            if (audit.size() >= AUDIT_KEPT) {
                audit.removeFirst();
            }
            audit.addLast(event);
        }
    }

    @Override
    public Future<OwnerLookup> ownerOf(String sessionId) {
        return Future.succeededFuture(OwnerLookup.unknown("no session " + sessionId + " on this exit node"));
    }

    @Override
    public Future<OwnerLookup> replica(String id) {
        return Future.succeededFuture(OwnerLookup.unknown("no replica " + id + " (single exit node)"));
    }

    @Override
    public Status status() {
        return new Status(true, "memory");
    }

    @Override
    public List<AuditEvent> recentAudit(int max) {
        synchronized (audit) {
            List<AuditEvent> all = new ArrayList<>(audit);
            return all.subList(Math.max(0, all.size() - max), all.size());
        }
    }
}
