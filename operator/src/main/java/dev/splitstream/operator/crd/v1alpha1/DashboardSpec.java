package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;

/** Basic credentials of the exit node's dashboard, from a Secret. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DashboardSpec extends StrictObject {
    @JsonPropertyDescription("Name of a Secret in the Tunnel's namespace with the dashboard's user name and password. "
            + "Unset: the dashboard is off.")
    public String secretName;

    @JsonPropertyDescription("Key of the user name in the Secret. Default `username`.")
    @Default("username")
    public String userKey = "username";

    @JsonPropertyDescription("Key of the password in the Secret. Default `password`.")
    @Default("password")
    public String passwordKey = "password";
}
