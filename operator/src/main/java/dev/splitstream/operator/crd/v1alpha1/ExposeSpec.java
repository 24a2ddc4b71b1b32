package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import java.util.ArrayList;
import java.util.List;

/** Expose mode: the services the entry node (the agent) publishes through the exit node, and how. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ExposeSpec extends StrictObject {
    /** The most services one Tunnel exposes (each is one entry of SPLITSTREAM_ENTRY_EXPOSE). */
    public static final int MAX_SERVICES = 64;

    @JsonPropertyDescription("Services the entry node exposes, each `name=host:port` (TCP; the exit assigns a public "
            + "port from `publicPorts`), `name:PORT=host:port` (TCP on public port PORT) or `name=http://host:port` / "
            + "`name=https://host:port` (an HTTP service, reached through HTTP routes and the Hub). Names are "
            + "lower-case DNS labels. At most 64.")
    @Size(max = MAX_SERVICES)
    public List<String> services = new ArrayList<>();

    @JsonPropertyDescription("Name of the agent, as the Hub lists it. Default: the token id.")
    @Pattern("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    public String agent;

    @JsonPropertyDescription("Public TCP ports of the exit node for the TCP services, and the Service that "
            + "publishes them. Unset: no public TCP ports.")
    public PublicPortsSpec publicPorts;

    @JsonPropertyDescription("How long a disconnected agent keeps its public ports and names, e.g. `10m`, `90s`, "
            + "`1h`. Default: the exit node's (10m).")
    @Pattern("^[0-9]{1,6}(ms|s|m|h)$")
    public String lease;

    @JsonPropertyDescription("Domain of host routes: HTTP service `web` is reached at `web.<httpDomain>`. The "
            + "operator adds an Ingress for the wildcard host `*.<httpDomain>` (point that DNS name at the ingress "
            + "controller). Unset: no host routes.")
    public String httpDomain;

    @JsonPropertyDescription(
            "TLS Secret (a certificate for `*.<httpDomain>`) of the host-route Ingress. Unset: " + "plain HTTP.")
    public String httpTlsSecretName;

    @JsonPropertyDescription("Regular expression an `X-Host: scheme://host[:port]` request header must match to send "
            + "an HTTP request to another target than the service's own. Unset: `X-Host` is refused.")
    public String httpHosts;

    @JsonPropertyDescription("Generate a route token (Secret `<tunnel>-route-token`, key `token`) so HTTP clients "
            + "reach the first HTTP service at `/_token/<token>/...` or with `X-Token: <token>` on any host of the "
            + "exit node. Only used when a service is HTTP. Default true.")
    @Default("true")
    public Boolean routeToken = true;

    @JsonPropertyDescription("Turn on the exit node's Hub API (`/hub/v1/...`, list agents, send requests to their "
            + "HTTP services) with a generated bearer token (Secret `<tunnel>-hub-token`, key `token`). Default "
            + "false.")
    @Default("false")
    public Boolean hub = false;
}
