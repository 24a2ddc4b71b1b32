package dev.splitstream.exit.session;

import dev.splitstream.bridge.Dialer;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.registry.SessionLedger;
import dev.splitstream.exit.token.TokenPolicy;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.ServerHandshake;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * Sessions of this node in memory, by session id (hex). Sessions stay here while detached, until resumed or timed out.
 * Thread-safe; each session itself is confined to its own context.
 */
@ApplicationScoped
public class SessionRegistry implements ServerHandshake.SessionKeys {
    private static final Logger LOG = Logger.getLogger(SessionRegistry.class);
    private final ConcurrentHashMap<String, ExitSession> sessions = new ConcurrentHashMap<>();
    private final Vertx vertx;
    private final ExitSettings settings;
    private final TokenRegistry tokens;
    private final Dialer dialer;
    private final ExitMetrics metrics;
    private final ExposeService expose;
    private final BufferBudget budget;
    /** The shared registry's view of this node's sessions (ownership, audit log). */
    @Inject
    SessionLedger ledger;

    public SessionRegistry(
            Vertx vertx,
            ExitSettings settings,
            TokenRegistry tokens,
            Dialer dialer,
            ExitMetrics metrics,
            ExposeService expose,
            BufferBudget budget) {
        this.budget = budget;
        this.vertx = vertx;
        this.settings = settings;
        this.tokens = tokens;
        this.dialer = dialer;
        this.metrics = metrics;
        this.expose = expose;
        metrics.gauge(
                "splitstream.exit.sessions.plain",
                "sessions sending DATA plain: acknowledged bytes showed their path faster than deflate",
                () -> sessions.values().stream()
                        .filter(ExitSession::sendsDataPlain)
                        .count());
    }

    /**
     * Creates and registers a session for a completed NEW handshake of {@code policy}'s token, within the node's limit
     * (splitstream.exit.max-sessions) and the token's ({@code maxSessions}). At either limit the token's session that
     * has been detached longest is closed to make room (its entry dropped without a goodbye; if it comes back, its
     * RESUME finds no session and it logs in anew); with none detached the login is refused. Must be called on the event
     * loop the session will live on (the connection's).
     *
     * @throws ProtocolException LIMIT_EXCEEDED
     */
    public synchronized ExitSession create(HandshakeResult established, Limits limits, TokenPolicy policy)
            throws ProtocolException {
        String tokenId = policy.id();
        int ofToken = 0;
        ExitSession oldestDetached = null;
        for (ExitSession s : sessions.values()) {
            if (!s.tokenId().equals(tokenId)) {
                continue;
            }
            ofToken++;
            long since = s.detachedSince();
            if (since != ExitSession.ATTACHED
                    && (oldestDetached == null || since - oldestDetached.detachedSince() < 0)) {
                oldestDetached = s;
            }
        }
        boolean tokenFull = ofToken >= policy.maxSessions();
        boolean nodeFull = sessions.size() >= settings.maxSessions();
        if (tokenFull || nodeFull) {
            if (oldestDetached == null) {
                throw new ProtocolException(
                        CloseCode.LIMIT_EXCEEDED,
                        tokenFull
                                ? "token " + tokenId + " has " + ofToken + " sessions, all connected (max "
                                        + policy.maxSessions() + ")"
                                : "too many sessions on this exit node (max " + settings.maxSessions() + ")");
            }
            evict(oldestDetached, tokenFull ? "its token's limit of " + policy.maxSessions() : "the node's limit");
        }
        ExitSession s =
                new ExitSession(vertx, established, limits, settings, tokens, dialer, metrics, this, expose, budget);
        sessions.put(s.idHex(), s);
        s.start();
        return s;
    }

    private void evict(ExitSession s, String limit) {
        // Out of the registry at once, so the new login counts against a free slot; closed on its own context.
        sessions.remove(s.idHex(), s);
        long seconds = (System.nanoTime() - s.detachedSince()) / 1_000_000_000L;
        metrics.sessionEvicted("session " + s.idHex() + " token=" + s.tokenId() + " detached for " + seconds
                + "s closed to make room for a newer login (" + limit + " reached)");
        LOG.infof(
                "session %s token=%s detached for %ds makes room for a newer login (%s reached)",
                s.idHex(), s.tokenId(), seconds, limit);
        s.close(CloseCode.LIMIT_EXCEEDED, "replaced by a newer login of token " + s.tokenId() + " at " + limit);
    }

    /** Number of sessions of {@code tokenId} held. */
    public int sizeOf(String tokenId) {
        int n = 0;
        for (ExitSession s : sessions.values()) {
            if (s.tokenId().equals(tokenId)) {
                n++;
            }
        }
        return n;
    }

    /** The session with this id, if held. */
    public Optional<ExitSession> find(byte[] sessionId) {
        return Optional.ofNullable(sessions.get(HexFormat.of().formatHex(sessionId)));
    }

    @Override
    public Optional<Secret> keyFor(byte[] sessionId) {
        return find(sessionId).map(ExitSession::sessionKey);
    }

    /** Records in the registry that {@code s} was opened here on {@code leg}. */
    public void opened(ExitSession s, Leg leg) {
        if (ledger != null) {
            ledger.opened(s.idHex(), s.tokenId(), leg.transportName(), leg.remoteAddress());
        }
    }

    void dialed(ExitSession s, String target, String outcome, String detail) {
        if (ledger != null) {
            ledger.dialed(s.idHex(), s.tokenId(), target, outcome, detail);
        }
    }

    void ended(ExitSession s, String outcome, String message, long bytesUp, long bytesDown) {
        if (ledger != null) {
            ledger.closed(s.idHex(), s.tokenId(), outcome, message, bytesUp, bytesDown);
        }
    }

    void remove(ExitSession s) {
        sessions.remove(s.idHex(), s);
    }

    /** The sessions held now. */
    public List<ExitSession> all() {
        return List.copyOf(sessions.values());
    }

    /** Number of sessions held. */
    public int size() {
        return sessions.size();
    }

    /** Closes every session (node shutdown). */
    public void closeAll(CloseCode code, String message) {
        for (ExitSession s : List.copyOf(sessions.values())) {
            s.close(code, message);
        }
    }
}
