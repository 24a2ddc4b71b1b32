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

/** The Ingress of the downstream domain of a split tunnel. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_INGRESS))
public class DownstreamIngressDependent extends CRUDKubernetesDependentResource<Ingress, Tunnel> {
    public static final String NAME = "downstream-ingress";

    public DownstreamIngressDependent() {
        super(Ingress.class);
    }

    @Override
    protected Ingress desired(Tunnel tunnel, Context<Tunnel> context) {
        return IngressModel.downstream(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.downstreamIngressName(tunnel),
                tunnel.getMetadata().getNamespace());
    }

    /** Reconciled while the domains differ; deleted when the tunnel stops being split. */
    public static class IsSplit implements Condition<Ingress, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Ingress, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return IngressModel.hasDownstream(tunnel);
        }
    }
}
