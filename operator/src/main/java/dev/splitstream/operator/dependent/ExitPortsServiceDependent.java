package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExposeModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Service;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The Service publishing the exit's public TCP ports (expose mode with `publicPorts`); deleted when they go. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_EXIT))
public class ExitPortsServiceDependent extends CRUDKubernetesDependentResource<Service, Tunnel> {
    public static final String NAME = "exit-ports-service";

    public ExitPortsServiceDependent() {
        super(Service.class);
    }

    @Override
    protected Service desired(Tunnel tunnel, Context<Tunnel> context) {
        return ExposeModel.publicPortsService(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.exitPortsServiceName(tunnel),
                tunnel.getMetadata().getNamespace());
    }

    public static class HasPublicPorts implements Condition<Service, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Service, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return ExposeModel.hasPublicPorts(tunnel);
        }
    }
}
