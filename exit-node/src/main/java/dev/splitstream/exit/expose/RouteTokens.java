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
 *
 * <p>Hashing a token costs about as much as the rest of looking up a route, so a keep-alive connection remembers the
 * last token it found an agent with ({@link #lookup}): the next request on it that carries the same token (compared in
 * constant time) skips the hash, until any route changes. Only the connection that presented a token keeps it, for as
 * long as it is open, as its own request headers were kept.
 */
@ApplicationScoped
public class RouteTokens {
    private static final Logger LOG = Logger.getLogger(RouteTokens.class);

    private final Map<String, String> agentByDigest = new HashMap<>();
    private final Map<String, String> digestByAgent = new HashMap<>();
    /** Bumped (under the lock) by every change, so a remembered lookup from before it is not used again. */
    private volatile long version;

    /**
     * A token that led to an agent, as a connection remembers it. Never printed: {@link #toString} names the agent
     * only.
     */
    public static final class Lookup {
        private final String token;
        private final long version;
        private final Optional<String> agent;

        private Lookup(String token, long version, Optional<String> agent) {
            this.token = token;
            this.version = version;
            this.agent = agent;
        }

        /** The agent the token leads to, if any. */
        public Optional<String> agent() {
            return agent;
        }

        @Override
        public String toString() {
            return "RouteTokens.Lookup[agent=" + agent.orElse("none") + ", token=<redacted>]";
        }
    }

    /**
     * {@link #agentFor}, answered from {@code last} (what the same connection found before, may be null) when it holds
     * the same token and no route changed since; else hashed. Remember the result only when it found an agent.
     */
    public Lookup lookup(String token, Lookup last) {
        long now = version;
        if (last != null && last.version == now && token != null && sameToken(last.token, token)) {
            return last;
        }
        return new Lookup(token, now, agentFor(token));
    }

    /** Equality in time that depends on the lengths only, not on where the first difference is. */
    static boolean sameToken(String a, String b) {
        int diff = a.length() ^ b.length();
        int n = Math.min(a.length(), b.length());
        for (int i = 0; i < n; i++) {
            diff |= a.charAt(i) ^ b.charAt(i);
        }
        return diff == 0;
    }

    /** Records {@code agent}'s token (empty: the agent has none). */
    public synchronized void announce(String agent, String token) {
        version++;
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
        version++;
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
        version++;
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
