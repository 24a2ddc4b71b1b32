package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExposeModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The Ingress of the host routes `*.<httpDomain>` (expose mode); deleted when the domain goes. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_INGRESS))
public class RoutesIngressDependent extends CRUDKubernetesDependentResource<Ingress, Tunnel> {
    public static final String NAME = "routes-ingress";

    public RoutesIngressDependent() {
        super(Ingress.class);
    }

    @Override
    protected Ingress desired(Tunnel tunnel, Context<Tunnel> context) {
        return ExposeModel.routesIngress(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.routesIngressName(tunnel), tunnel.getMetadata().getNamespace());
    }

    public static class HasHostRoutes implements Condition<Ingress, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Ingress, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return ExposeModel.hasHostRoutes(tunnel);
        }
    }
}
