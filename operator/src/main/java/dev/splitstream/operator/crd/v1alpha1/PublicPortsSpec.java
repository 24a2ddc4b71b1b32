package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

/**
 * The exit node's range of public TCP ports. A Kubernetes Service lists every port explicitly (no ranges), so the
 * range is capped at {@value #MAX_COUNT} ports.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class PublicPortsSpec extends StrictObject {
    public static final int MAX_COUNT = 100;

    @JsonPropertyDescription("First public port of the range (1024 to 65535).")
    @Min(1024)
    @Max(65535)
    public Integer first;

    @JsonPropertyDescription("Number of ports in the range, at most 100: a Kubernetes Service names every port, and "
            + "load balancers limit listeners per address. Default 10.")
    @Min(1)
    @Max(MAX_COUNT)
    @Default("10")
    public Integer count = 10;

    @JsonPropertyDescription("Type of the Service `<tunnel>-exit-ports` publishing the range: `LoadBalancer`, "
            + "`NodePort` or `ClusterIP`. Default `LoadBalancer`.")
    @Pattern("^(ClusterIP|NodePort|LoadBalancer)$")
    @Default("LoadBalancer")
    public String serviceType = "LoadBalancer";
}
