package dev.splitstream.exit.registry;

import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the session layer tells the registry: sessions opened and ended (ownership and the {@code session} audit row
 * with bytes and duration) and the targets their streams asked for ({@code dial} rows). Never blocks.
 */
@ApplicationScoped
public class SessionLedger {
    private record Opened(String transport, String remote, long startNanos) {}

    private final ExitRegistry registry;
    private final ConcurrentHashMap<String, Opened> open = new ConcurrentHashMap<>();

    public SessionLedger(ExitRegistry registry) {
        this.registry = registry;
    }

    public ExitRegistry registry() {
        return registry;
    }

    /** A session opened here on a leg of {@code transport} from {@code remote}. */
    public void opened(String sessionId, String tokenId, String transport, String remote) {
        open.put(sessionId, new Opened(transport, remote, System.nanoTime()));
        registry.sessionOpened(new ExitRegistry.SessionInfo(sessionId, tokenId, transport, remote));
    }

    /** A stream of the session asked for {@code target}; {@code outcome} is {@code connected} or the refusal's code. */
    public void dialed(String sessionId, String tokenId, String target, String outcome, String detail) {
        Opened o = open.get(sessionId);
        registry.audit(new AuditEvent(
                Instant.now(),
                "dial",
                sessionId,
                tokenId,
                o == null ? null : o.remote(),
                o == null ? null : o.transport(),
                target,
                0,
                0,
                outcome,
                0,
                detail));
    }

    /** The session ended with {@code outcome} (its close code) after carrying these bytes. */
    public void closed(String sessionId, String tokenId, String outcome, String message, long bytesUp, long bytesDown) {
        Opened o = open.remove(sessionId);
        registry.sessionClosed(sessionId);
        long millis = o == null ? 0 : (System.nanoTime() - o.startNanos()) / 1_000_000;
        registry.audit(new AuditEvent(
                Instant.now(),
                "session",
                sessionId,
                tokenId,
                o == null ? null : o.remote(),
                o == null ? null : o.transport(),
                null,
                bytesUp,
                bytesDown,
                outcome,
                millis,
                message));
    }
}
