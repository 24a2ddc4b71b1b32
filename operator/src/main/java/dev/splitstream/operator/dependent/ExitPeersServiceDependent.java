package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExitModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Service;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The headless Service of the exit replicas (PostgreSQL registry); deleted when the registry goes. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_EXIT))
public class ExitPeersServiceDependent extends CRUDKubernetesDependentResource<Service, Tunnel> {
    public static final String NAME = "exit-peers-service";

    public ExitPeersServiceDependent() {
        super(Service.class);
    }

    @Override
    protected Service desired(Tunnel tunnel, Context<Tunnel> context) {
        return ExitModel.peersService(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.exitPeersServiceName(tunnel),
                tunnel.getMetadata().getNamespace());
    }

    public static class UsesRegistry implements Condition<Service, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Service, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return ExitModel.usesRegistry(tunnel.getSpec());
        }
    }
}
