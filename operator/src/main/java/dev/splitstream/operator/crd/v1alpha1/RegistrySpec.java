package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;

/** The PostgreSQL registry exit replicas share: only a Secret reference, never the credentials themselves. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RegistrySpec extends StrictObject {
    @JsonPropertyDescription("Name of a Secret in the Tunnel's namespace holding the JDBC URL "
            + "(`jdbc:postgresql://host:5432/db`), user name and password of the PostgreSQL database. Required.")
    public String secretName;

    @JsonPropertyDescription("Key of the JDBC URL in the Secret. Default `jdbc-url`.")
    @Default("jdbc-url")
    public String jdbcUrlKey = "jdbc-url";

    @JsonPropertyDescription("Key of the user name in the Secret. Default `username`.")
    @Default("username")
    public String usernameKey = "username";

    @JsonPropertyDescription("Key of the password in the Secret. Default `password`.")
    @Default("password")
    public String passwordKey = "password";
}
