package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** TLS Secret names, one per domain. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TlsSpec extends StrictObject {
    @JsonPropertyDescription("Name of the TLS Secret for the upstream domain (also used for the downstream domain "
            + "when the domains are equal).")
    public String upstreamSecretName;

    @JsonPropertyDescription("Name of the TLS Secret for the downstream domain of a split tunnel.")
    public String downstreamSecretName;
}
