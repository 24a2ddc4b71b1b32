package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.IngressModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The Ingress of the upstream domain (of the only domain when the tunnel is not split). */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_INGRESS))
public class UpstreamIngressDependent extends CRUDKubernetesDependentResource<Ingress, Tunnel> {
    public static final String NAME = "upstream-ingress";

    public UpstreamIngressDependent() {
        super(Ingress.class);
    }

    @Override
    protected Ingress desired(Tunnel tunnel, Context<Tunnel> context) {
        return IngressModel.upstream(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.upstreamIngressName(tunnel),
                tunnel.getMetadata().getNamespace());
    }

    /** Reconciled while the Tunnel has a domain; deleted when the domain is removed. */
    public static class HasDomain implements Condition<Ingress, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Ingress, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return IngressModel.hasUpstream(tunnel);
        }
    }
}
