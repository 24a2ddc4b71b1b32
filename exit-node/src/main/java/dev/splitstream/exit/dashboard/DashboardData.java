package dev.splitstream.exit.dashboard;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.splitstream.exit.expose.AgentRecord;
import dev.splitstream.exit.expose.ExposeService;
import dev.splitstream.exit.expose.Lease;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.metrics.Refusals;
import dev.splitstream.exit.route.RequestLog;
import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.session.SessionView;
import io.vertx.core.Future;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The data behind the dashboard's pages as JSON (Jackson): sessions, refusals, agents and HTTP route requests. Only
 * what the logs already show: ids, token ids, addresses, counters; never a secret.
 */
@ApplicationScoped
public class DashboardData {
    /** Most refusals one answer carries. */
    static final int MAX_REFUSALS = 100;
    /** Most sessions one answer carries (the busiest first would need sorting all; the oldest first is stable). */
    static final int MAX_SESSIONS = 500;
    /** Most route requests a live snapshot carries (the page filters these; the API answers from the whole log). */
    static final int MAX_SNAPSHOT_REQUESTS = 200;

    private final SessionRegistry sessions;
    private final ExitMetrics metrics;
    private final ObjectMapper json;
    private final ExposeService expose;
    private final RequestLog requestLog;

    public DashboardData(
            SessionRegistry sessions,
            ExitMetrics metrics,
            ObjectMapper json,
            ExposeService expose,
            RequestLog requestLog) {
        this.requestLog = requestLog;
        this.sessions = sessions;
        this.metrics = metrics;
        this.json = json;
        this.expose = expose;
    }

    /** The sessions held, each read on its own context; sessions that do not answer within 2 s are left out. */
    public Future<List<SessionView>> sessions() {
        List<Future<SessionView>> views = sessions.all().stream()
                .limit(MAX_SESSIONS)
                .map(ExitSession::view)
                .map(f -> f.timeout(2, TimeUnit.SECONDS))
                .toList();
        return Future.join(views).map(all -> views.stream()
                .filter(Future::succeeded)
                .map(Future::result)
                .sorted(Comparator.comparing(SessionView::since))
                .toList());
    }

    public Future<ObjectNode> sessionsJson() {
        return sessions().map(list -> {
            ObjectNode root = json.createObjectNode();
            root.put("at", Instant.now().toString());
            ArrayNode array = root.putArray("sessions");
            for (SessionView s : list) {
                ObjectNode n = array.addObject();
                n.put("id", s.id());
                n.put("tokenId", s.tokenId());
                n.put("agent", s.agent());
                n.put("transport", s.transport());
                n.put("remoteAddress", s.remoteAddress());
                n.put("since", s.since().toString());
                if (s.rttNanos() >= 0) {
                    n.put("rttMillis", s.rttNanos() / 1e6);
                } else {
                    n.putNull("rttMillis");
                }
                n.put("bytesUp", s.bytesUp());
                n.put("bytesDown", s.bytesDown());
                n.put("streams", s.streams());
                n.put("attached", s.attached());
            }
            return root;
        });
    }

    public ObjectNode refusalsJson() {
        ObjectNode root = json.createObjectNode();
        ArrayNode array = root.putArray("refusals");
        for (Refusals.Refusal r :
                metrics.refusals().newestFirst().stream().limit(MAX_REFUSALS).toList()) {
            ObjectNode n = array.addObject();
            n.put("at", r.at().toString());
            n.put("kind", r.kind());
            n.put("reason", r.reason());
            n.put("detail", r.detail());
        }
        return root;
    }

    /**
     * Agents, their services with public ports, and each port's lease: {@code leaseExpires} is null while the agent is
     * connected, else when its port is freed unless it comes back.
     */
    public ObjectNode agentsJson() {
        ObjectNode root = json.createObjectNode();
        root.put("available", true);
        List<Lease> leases = expose.leases();
        ArrayNode array = root.putArray("agents");
        for (AgentRecord a : expose.agents()) {
            ObjectNode n = array.addObject();
            n.put("name", a.name());
            n.put("tokenId", a.tokenId());
            n.put("connected", a.connected());
            n.put("lastSeen", a.lastSeen() == null ? null : a.lastSeen().toString());
            ArrayNode services = n.putArray("services");
            for (AgentRecord.ServiceRecord sr : a.services()) {
                ObjectNode sn = services.addObject();
                sn.put("name", sr.name());
                sn.put("kind", sr.kind());
                sn.put("target", sr.target());
                sn.put("publicPort", sr.publicPort());
                leases.stream()
                        .filter(l -> l.key().tokenId().equals(a.tokenId())
                                && l.key().agent().equals(a.name())
                                && l.key().service().equals(sr.name()))
                        .findFirst()
                        .ifPresent(l -> {
                            sn.put("leasedPort", l.port());
                            sn.put(
                                    "leaseExpires",
                                    l.expires().map(Instant::toString).orElse(null));
                        });
            }
        }
        return root;
    }

    /**
     * The HTTP route request log, newest first: {@code agent} (exact name) and {@code statusClass} ({@code 2xx} ..
     * {@code 5xx}) filter when present; at most {@code limit} entries.
     */
    public ObjectNode requestsJson(Optional<String> agent, Optional<String> statusClass, int limit) {
        ObjectNode root = json.createObjectNode();
        root.put("available", true);
        root.put("capacity", RequestLog.CAPACITY);
        root.put("held", requestLog.size());
        if (requestLog.size() == 0) {
            root.put("note", "no request through an HTTP route or the Hub since this exit node started");
        }
        ArrayNode array = root.putArray("requests");
        for (RequestLog.Entry e : requestLog.newestFirst(agent, statusClass, limit)) {
            ObjectNode n = array.addObject();
            n.put("at", e.at().toString());
            n.put("agent", e.agent());
            n.put("service", e.service());
            n.put("via", e.via().label());
            n.put("method", e.method());
            n.put("path", e.path());
            n.put("status", e.status());
            n.put("statusClass", e.statusClass());
            n.put("latencyMillis", e.latencyMillis());
            n.put("bytesIn", e.bytesIn());
            n.put("bytesOut", e.bytesOut());
            n.put("bytes", e.bytesIn() + e.bytesOut());
        }
        return root;
    }

    /** Everything the pages show at once: one server-sent event. */
    public Future<ObjectNode> snapshotJson() {
        return sessionsJson().map(s -> {
            ObjectNode root = json.createObjectNode();
            root.put("at", s.get("at").asText());
            root.set("sessions", s.get("sessions"));
            root.set("refusals", refusalsJson().get("refusals"));
            root.set("agents", agentsJson());
            root.set("requests", requestsJson(Optional.empty(), Optional.empty(), MAX_SNAPSHOT_REQUESTS));
            return root;
        });
    }
}
