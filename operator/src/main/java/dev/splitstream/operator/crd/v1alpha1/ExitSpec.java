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
    @JsonPropertyDescription("Number of exit node replicas. The ingress hashes on the session id, so every "
            + "connection of a session reaches the same replica. Default 1.")
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
}
