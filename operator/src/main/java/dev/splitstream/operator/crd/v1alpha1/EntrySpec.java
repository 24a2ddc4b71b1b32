package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import java.util.ArrayList;
import java.util.List;

/** The entry node: a Deployment, or only a configuration Secret that sidecars load. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class EntrySpec extends StrictObject {
    @JsonPropertyDescription("Number of entry node replicas (ignored when `sidecarOnly`). Default 1.")
    @Min(0)
    @Default("1")
    public Integer replicas = 1;

    @JsonPropertyDescription("Container image of the entry node. Default: the operator's "
            + "`splitstream.operator.entry-image` setting.")
    public String image;

    @JsonPropertyDescription("Image pull policy: `Always`, `IfNotPresent` or `Never`. Default `IfNotPresent`.")
    @Pattern("^(Always|IfNotPresent|Never)$")
    public String imagePullPolicy;

    @JsonPropertyDescription("CPU and memory requests and limits of the entry container. Default: requests 50m CPU "
            + "and 96Mi memory, limit 256Mi memory.")
    public ResourceRequirements resources;

    @JsonPropertyDescription("Fixed forwards, each `[bind:]localport=host:port` (bind defaults to 127.0.0.1, right "
            + "for a sidecar; use `0.0.0.0:` in the entry Deployment to serve other pods).")
    public List<String> forwards = new ArrayList<>();

    @JsonPropertyDescription("SOCKS5 listener, `[bind:]port`. Unset: no SOCKS5 listener.")
    @Pattern("^([0-9A-Za-z.:\\[\\]-]+:)?[0-9]{1,5}$")
    public String socks;

    @JsonPropertyDescription("Only write the entry configuration Secret (for entry sidecars in other pods); "
            + "run no entry Deployment. Default false.")
    @Default("false")
    public Boolean sidecarOnly = false;
}
