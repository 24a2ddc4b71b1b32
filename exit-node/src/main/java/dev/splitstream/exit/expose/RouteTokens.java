package dev.splitstream.exit.expose;

import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Which agent a route token leads to. Tokens are kept only as SHA-256 digests, so neither a heap dump nor a lookup's
 * timing says anything about a token; they are never logged. A token belongs to the first agent that announced it until
 * that agent is released or forgotten; another agent announcing the same token gets no route (and a warning that does
 * not print it).
 */
@ApplicationScoped
public class RouteTokens {
    private static final Logger LOG = Logger.getLogger(RouteTokens.class);

    private final Map<String, String> agentByDigest = new HashMap<>();
    private final Map<String, String> digestByAgent = new HashMap<>();

    /** Records {@code agent}'s token (empty: the agent has none). */
    public synchronized void announce(String agent, String token) {
        String old = digestByAgent.remove(agent);
        if (old != null) {
            agentByDigest.remove(old);
        }
        if (token == null || token.isEmpty()) {
            return;
        }
        String digest = digest(token);
        String owner = agentByDigest.get(digest);
        if (owner != null && !owner.equals(agent)) {
            LOG.warnf(
                    "agent %s announced a route token that agent %s already uses; it gets no token route",
                    agent, owner);
            return;
        }
        agentByDigest.put(digest, agent);
        digestByAgent.put(agent, digest);
    }

    /** The digest of {@code agent}'s token (what replicas share), if it has a route. */
    public synchronized Optional<String> digestOf(String agent) {
        return Optional.ofNullable(digestByAgent.get(agent));
    }

    /**
     * Records the token digest of an agent served by another replica (empty or null: no route). The first agent
     * keeps a digest here too.
     */
    public synchronized void announceDigest(String agent, String digest) {
        String old = digestByAgent.get(agent);
        if (java.util.Objects.equals(old, digest)) {
            return;
        }
        forget(agent);
        if (digest == null || digest.isEmpty() || agentByDigest.containsKey(digest)) {
            return;
        }
        agentByDigest.put(digest, agent);
        digestByAgent.put(agent, digest);
    }

    /** The agent whose route token is {@code token}. */
    public Optional<String> agentFor(String token) {
        if (token == null || token.isEmpty()) {
            return Optional.empty();
        }
        // hashed outside the lock: every event loop of the HTTP port asks on every route request
        String d = digest(token);
        synchronized (this) {
            return Optional.ofNullable(agentByDigest.get(d));
        }
    }

    /** Forgets {@code agent}'s token. */
    public synchronized void forget(String agent) {
        String d = digestByAgent.remove(agent);
        if (d != null) {
            agentByDigest.remove(d);
        }
    }

    /** Number of token routes. */
    public synchronized int size() {
        return agentByDigest.size();
    }

    /** One SHA-256 per thread: looking the algorithm up per request cost as much as hashing the token. */
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    });

    private static String digest(String token) {
        MessageDigest md = SHA256.get();
        md.reset();
        return HexFormat.of().formatHex(md.digest(token.getBytes(StandardCharsets.UTF_8)));
    }
}
