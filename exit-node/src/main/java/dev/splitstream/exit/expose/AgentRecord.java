package dev.splitstream.exit.expose;

import java.time.Instant;
import java.util.List;

/**
 * What the exit knows about one agent: listed by the Hub API and the stats.
 *
 * @param name agent name, unique on this exit
 * @param tokenId token it authenticated with
 * @param connected true while a session of the agent is attached
 * @param lastSeen when it last announced or was last connected
 * @param services its services as last announced
 */
public record AgentRecord(
        String name, String tokenId, boolean connected, Instant lastSeen, List<ServiceRecord> services) {

    /**
     * One announced service.
     *
     * @param name service name
     * @param kind {@code tcp} or {@code http}
     * @param target what the agent connects to (as the agent described it; the exit never dials it)
     * @param publicPort the public port granted, 0 for none
     */
    public record ServiceRecord(String name, String kind, String target, int publicPort) {}

    /** The same agent, marked connected or not as of {@code at}. */
    public AgentRecord withConnected(boolean now, Instant at) {
        return new AgentRecord(name, tokenId, now, at, services);
    }
}
