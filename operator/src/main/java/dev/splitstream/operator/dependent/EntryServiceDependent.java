package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.EntryModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Service;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The entry Service: the forwards and SOCKS5 listener of the entry Deployment, for other pods. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_ENTRY))
public class EntryServiceDependent extends CRUDKubernetesDependentResource<Service, Tunnel> {
    public static final String NAME = "entry-service";

    public EntryServiceDependent() {
        super(Service.class);
    }

    @Override
    protected Service desired(Tunnel tunnel, Context<Tunnel> context) {
        return EntryModel.service(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.entryName(tunnel), tunnel.getMetadata().getNamespace());
    }

    /** Reconciled while the entry Deployment listens on a non-loopback address; deleted otherwise. */
    public static class HasPorts implements Condition<Service, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Service, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return EntryModel.hasService(tunnel);
        }
    }
}
