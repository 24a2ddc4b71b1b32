package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;

/** Where the tunnel's shared secret comes from, and how rotation behaves. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TokenSpec extends StrictObject {
    @JsonPropertyDescription("Name of an existing Secret in the Tunnel's namespace holding the token. Unset: the "
            + "operator generates a token into the Secret `<tunnel>-credentials` and rotates it on request "
            + "(annotation `splitstream.dev/rotate-token`). Pods read the token from a mounted file, so a change of "
            + "this Secret reaches them without a restart.")
    public String existingSecret;

    @JsonPropertyDescription("Key of the token in `existingSecret`. Default `token`.")
    @Default("token")
    public String existingSecretKey = "token";

    @JsonPropertyDescription("Token id announced by entry nodes when `existingSecret` is used. Default `default`.")
    @Default("default")
    public String id = "default";

    @JsonPropertyDescription("Seconds the previous token stays valid after a rotation, so entry nodes can move to "
            + "the new one without dropping sessions. Default 900.")
    @Min(0)
    @Default("900")
    public Integer rotationGraceSeconds = 900;
}
