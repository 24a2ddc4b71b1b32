package dev.splitstream.exit.expose;

/**
 * Who a public port belongs to: a token, an agent of that token, and one of the agent's services. A lease is held by
 * this identity, not by a session: the same identity reconnecting gets its port back.
 *
 * @param tokenId token the agent authenticated with
 * @param agent the agent's name (its {@code SPLITSTREAM_ENTRY_AGENT})
 * @param service the service name
 */
public record ServiceKey(String tokenId, String agent, String service) {
    @Override
    public String toString() {
        return tokenId + "/" + agent + "/" + service;
    }
}
