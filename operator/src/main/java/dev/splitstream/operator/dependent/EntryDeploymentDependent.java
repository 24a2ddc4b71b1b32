package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.EntryModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/** The entry node Deployment; absent for sidecar-only tunnels. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_ENTRY))
public class EntryDeploymentDependent extends CRUDKubernetesDependentResource<Deployment, Tunnel> {
    public static final String NAME = "entry-deployment";

    public EntryDeploymentDependent() {
        super(Deployment.class);
    }

    @Override
    protected Deployment desired(Tunnel tunnel, Context<Tunnel> context) {
        var environment = EntryModel.environment(
                tunnel,
                Secondary.named(context, Secret.class, TunnelResources.credentialsSecretName(tunnel)),
                Secondary.routeToken(context, tunnel));
        return EntryModel.deployment(tunnel, Settings.defaults(), EntryModel.digest(environment));
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.entryName(tunnel), tunnel.getMetadata().getNamespace());
    }

    /** Reconciled unless the Tunnel is sidecar-only; deleted when it becomes so. */
    public static class NotSidecarOnly implements Condition<Deployment, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Deployment, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return EntryModel.hasDeployment(tunnel);
        }
    }
}
