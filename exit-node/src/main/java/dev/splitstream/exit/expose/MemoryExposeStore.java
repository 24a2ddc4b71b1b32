package dev.splitstream.exit.expose;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/** The single-node {@link ExposeStore}: maps under one lock (a handful of operations per agent connect). */
public final class MemoryExposeStore implements ExposeStore {
    private final Map<ServiceKey, Lease> byKey = new HashMap<>();
    private final TreeMap<Integer, Lease> byPort = new TreeMap<>();
    private final Map<String, AgentRecord> agents = new HashMap<>();

    @Override
    public synchronized Claim claim(ServiceKey key, int requested, int low, int high, Set<Integer> avoid, Instant now) {
        Lease own = byKey.get(key);
        if (own != null && (requested == 0 || requested == own.port())) {
            return Claim.granted(put(new Lease(key, own.port(), Optional.empty())));
        }
        if (requested != 0) {
            Lease holder = byPort.get(requested);
            if (holder != null && !holder.key().equals(key) && !holder.expiredAt(now)) {
                return Claim.refused(Refusal.PORT_TAKEN, holder.key());
            }
            if (holder != null) {
                remove(holder);
            }
            if (own != null) {
                remove(own);
            }
            return Claim.granted(put(new Lease(key, requested, Optional.empty())));
        }
        for (int p = low; p <= high; p++) {
            Lease holder = byPort.get(p);
            if (avoid.contains(p)) {
                continue;
            }
            if (holder == null || holder.expiredAt(now)) {
                if (holder != null) {
                    remove(holder);
                }
                return Claim.granted(put(new Lease(key, p, Optional.empty())));
            }
        }
        return Claim.refused(Refusal.RANGE_FULL, null);
    }

    /** Makes {@code lease} hold, whatever held its port or its key before (a replica importing the shared state). */
    synchronized void force(Lease lease) {
        Lease atPort = byPort.get(lease.port());
        if (atPort != null) {
            remove(atPort);
        }
        Lease own = byKey.get(lease.key());
        if (own != null) {
            remove(own);
        }
        put(lease);
    }

    private Lease put(Lease lease) {
        byKey.put(lease.key(), lease);
        byPort.put(lease.port(), lease);
        return lease;
    }

    private void remove(Lease lease) {
        byKey.remove(lease.key(), lease);
        byPort.remove(lease.port(), lease);
    }

    @Override
    public synchronized void disconnect(ServiceKey key, Instant expires) {
        Lease l = byKey.get(key);
        if (l != null) {
            put(new Lease(key, l.port(), Optional.of(expires)));
        }
    }

    @Override
    public synchronized Optional<Lease> release(ServiceKey key) {
        Lease l = byKey.get(key);
        if (l != null) {
            remove(l);
        }
        return Optional.ofNullable(l);
    }

    @Override
    public synchronized Optional<Lease> lease(ServiceKey key) {
        return Optional.ofNullable(byKey.get(key));
    }

    @Override
    public synchronized List<Lease> leases() {
        return List.copyOf(byPort.values());
    }

    @Override
    public synchronized List<Lease> expire(Instant now) {
        List<Lease> out = new ArrayList<>();
        for (Lease l : List.copyOf(byPort.values())) {
            if (l.expiredAt(now)) {
                remove(l);
                out.add(l);
            }
        }
        return out;
    }

    @Override
    public synchronized void putAgent(AgentRecord agent) {
        agents.put(agent.name(), agent);
    }

    @Override
    public synchronized Optional<AgentRecord> agent(String name) {
        return Optional.ofNullable(agents.get(name));
    }

    @Override
    public synchronized List<AgentRecord> agents() {
        return agents.values().stream()
                .sorted(Comparator.comparing(AgentRecord::name))
                .toList();
    }

    @Override
    public synchronized void removeAgent(String name) {
        agents.remove(name);
    }
}
