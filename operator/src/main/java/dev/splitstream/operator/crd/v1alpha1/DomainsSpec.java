package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** Public host names; two different ones make a split tunnel. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DomainsSpec extends StrictObject {
    @JsonPropertyDescription("Host name carrying the upstream half (entry to exit). Alone, it carries both halves.")
    public String upstream;

    @JsonPropertyDescription("Host name carrying the downstream half (exit to entry). Equal to `upstream` (or "
            + "unset together with it) when the path is not split; a different host makes a split tunnel, so no "
            + "single domain or CDN sees both halves of a conversation.")
    public String downstream;
}
