package dev.splitstream.operator.crd.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.LinkedHashMap;
import java.util.Map;

/** How the exit node is published on the domains. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class IngressSpec extends StrictObject {
    @JsonPropertyDescription("IngressClass of the Ingress objects. Default: the cluster's default class. The "
            + "annotations the operator sets are for ingress-nginx.")
    public String className;

    @JsonPropertyDescription("Extra annotations for every Ingress; they override the operator's own "
            + "(for example a cert-manager issuer).")
    public Map<String, String> annotations = new LinkedHashMap<>();

    @JsonPropertyDescription("TLS Secrets (type kubernetes.io/tls) per domain. A domain with a Secret is served "
            + "over HTTPS and the entry uses wss://; without, ws://.")
    public TlsSpec tls = new TlsSpec();
}
