package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.kubernetes.api.model.ResourceRequirements;

/** The exit node's workload. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ExitSpec extends StrictObject {
    @JsonPropertyDescription(
            "Number of exit node replicas. More than 1 needs `spec.registry` (replicas share sessions, "
                    + "agents and leases through PostgreSQL and relay to each other). The ingress hashes on the session id, "
                    + "an optimisation that keeps most connections of a session on one replica. Default 1.")
    @Min(0)
    @Default("1")
    public Integer replicas = 1;

    @JsonPropertyDescription(
            "Container image of the exit node. Default: the operator's " + "`splitstream.operator.exit-image` setting.")
    public String image;

    @JsonPropertyDescription("Image pull policy: `Always`, `IfNotPresent` or `Never`. Default `IfNotPresent`.")
    @Pattern("^(Always|IfNotPresent|Never)$")
    public String imagePullPolicy;

    @JsonPropertyDescription("CPU and memory requests and limits of the exit container. Default: requests 100m CPU "
            + "and 128Mi memory, limit 384Mi memory.")
    public ResourceRequirements resources;

    @JsonPropertyDescription("Type of the exit Service: `ClusterIP`, `NodePort` or `LoadBalancer`. "
            + "Default `ClusterIP` (reached through the Ingress).")
    @Pattern("^(ClusterIP|NodePort|LoadBalancer)$")
    @Default("ClusterIP")
    public String serviceType = "ClusterIP";

    @JsonPropertyDescription("Basic credentials of the dashboard on the management port (9000, `/dashboard/`), from "
            + "a Secret. Unset: the dashboard is off.")
    public DashboardSpec dashboard;
}
