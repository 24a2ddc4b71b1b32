package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** What the operator observed and did. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TunnelStatus {
    @JsonPropertyDescription("The `metadata.generation` of the spec this status describes.")
    public Long observedGeneration;

    @JsonPropertyDescription("Conditions: Ready, SecretsReady, ExitReady, IngressReady, EntryReady.")
    public List<Condition> conditions = new ArrayList<>();

    @JsonPropertyDescription("URL entry nodes use for the upstream half (the whole tunnel when not split).")
    public String upstreamUrl;

    @JsonPropertyDescription("URL entry nodes use for the downstream half (equal to upstreamUrl when not split).")
    public String downstreamUrl;

    @JsonPropertyDescription("Registry of the exit node: `memory` (one replica) or `postgres` (from `spec.registry`).")
    public String registry;

    @JsonPropertyDescription("Expose mode: the exit's public TCP port range, `first-last`.")
    public String publicPorts;

    @JsonPropertyDescription("Expose mode: the address (load balancer host name or IP) of the Service "
            + "`<tunnel>-exit-ports` publishing the public ports, once the cluster reports one.")
    public String publicAddress;

    @JsonPropertyDescription("Id of the current token (never the token itself).")
    public String tokenId;

    @JsonPropertyDescription("Id of the previous token, still accepted until `retiringTokenExpiresAt`.")
    public String retiringTokenId;

    @JsonPropertyDescription("When the previous token stops being accepted (RFC 3339).")
    public String retiringTokenExpiresAt;

    @Override
    public boolean equals(Object o) {
        return o instanceof TunnelStatus s
                && Objects.equals(observedGeneration, s.observedGeneration)
                && Objects.equals(conditions, s.conditions)
                && Objects.equals(upstreamUrl, s.upstreamUrl)
                && Objects.equals(downstreamUrl, s.downstreamUrl)
                && Objects.equals(registry, s.registry)
                && Objects.equals(publicPorts, s.publicPorts)
                && Objects.equals(publicAddress, s.publicAddress)
                && Objects.equals(tokenId, s.tokenId)
                && Objects.equals(retiringTokenId, s.retiringTokenId)
                && Objects.equals(retiringTokenExpiresAt, s.retiringTokenExpiresAt);
    }

    @Override
    public int hashCode() {
        return Objects.hash(
                observedGeneration,
                conditions,
                upstreamUrl,
                downstreamUrl,
                registry,
                publicPorts,
                publicAddress,
                tokenId,
                retiringTokenId,
                retiringTokenExpiresAt);
    }
}
