package dev.splitstream.exit.session;

import dev.splitstream.bridge.Dialer;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.registry.SessionLedger;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.ServerHandshake;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sessions of this node in memory, by session id (hex). Sessions stay here while detached, until resumed or timed out.
 * Thread-safe; each session itself is confined to its own context.
 */
@ApplicationScoped
public class SessionRegistry implements ServerHandshake.SessionKeys {
    private final ConcurrentHashMap<String, ExitSession> sessions = new ConcurrentHashMap<>();
    private final Vertx vertx;
    private final ExitSettings settings;
    private final TokenRegistry tokens;
    private final Dialer dialer;
    private final ExitMetrics metrics;
    private final ExposeService expose;
    /** The shared registry's view of this node's sessions (ownership, audit log). */
    @Inject
    SessionLedger ledger;

    public SessionRegistry(
            Vertx vertx,
            ExitSettings settings,
            TokenRegistry tokens,
            Dialer dialer,
            ExitMetrics metrics,
            ExposeService expose) {
        this.vertx = vertx;
        this.settings = settings;
        this.tokens = tokens;
        this.dialer = dialer;
        this.metrics = metrics;
        this.expose = expose;
    }

    /** True while another session may be created (splitstream.exit.max-sessions). */
    public boolean hasRoom() {
        return sessions.size() < settings.maxSessions();
    }

    /**
     * Creates and registers a session for a completed NEW handshake. Must be called on the event loop the session will
     * live on (the connection's).
     */
    public ExitSession create(HandshakeResult established, Limits limits) {
        ExitSession s = new ExitSession(vertx, established, limits, settings, tokens, dialer, metrics, this, expose);
        sessions.put(s.idHex(), s);
        s.start();
        return s;
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
