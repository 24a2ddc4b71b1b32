package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExitModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Service;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The exit node Service, the Ingress backend. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_EXIT))
public class ExitServiceDependent extends CRUDKubernetesDependentResource<Service, Tunnel> {
    public static final String NAME = "exit-service";

    public ExitServiceDependent() {
        super(Service.class);
    }

    @Override
    protected Service desired(Tunnel tunnel, Context<Tunnel> context) {
        return ExitModel.service(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.exitName(tunnel), tunnel.getMetadata().getNamespace());
    }
}
