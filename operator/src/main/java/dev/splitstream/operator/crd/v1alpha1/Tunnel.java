package dev.splitstream.operator.crd.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/** A Splitstream tunnel: an exit node behind one or two ingress domains, its credentials and (optionally) entry nodes. */
@Group(Tunnel.GROUP)
@Version(Tunnel.VERSION)
@Kind("Tunnel")
@Plural("tunnels")
@Singular("tunnel")
@ShortNames("tun")
@AdditionalPrinterColumn(name = "Mode", jsonPath = ".spec.mode", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Ready",
        jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Reason",
        jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Upstream",
        jsonPath = ".status.upstreamUrl",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Downstream",
        jsonPath = ".status.downstreamUrl",
        type = AdditionalPrinterColumn.Type.STRING,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Registry",
        jsonPath = ".status.registry",
        type = AdditionalPrinterColumn.Type.STRING,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Public",
        jsonPath = ".status.publicAddress",
        type = AdditionalPrinterColumn.Type.STRING,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Age",
        jsonPath = ".metadata.creationTimestamp",
        type = AdditionalPrinterColumn.Type.DATE)
public class Tunnel extends CustomResource<TunnelSpec, TunnelStatus> implements Namespaced {
    public static final String GROUP = "splitstream.dev";
    public static final String VERSION = "v1alpha1";

    @Override
    protected TunnelSpec initSpec() {
        return new TunnelSpec();
    }

    @Override
    protected TunnelStatus initStatus() {
        return new TunnelStatus();
    }
}
