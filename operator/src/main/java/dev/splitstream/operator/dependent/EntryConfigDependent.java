package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.EntryModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/**
 * The entry node's environment as a Secret: what a sidecar loads with envFrom. Follows token rotations (the token id
 * and the file to read) and picks up the route token once it exists.
 */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_ENTRY))
public class EntryConfigDependent extends CRUDKubernetesDependentResource<Secret, Tunnel> {
    public static final String NAME = "entry-config";

    public EntryConfigDependent() {
        super(Secret.class);
    }

    @Override
    protected Secret desired(Tunnel tunnel, Context<Tunnel> context) {
        return EntryModel.configSecret(
                tunnel,
                Secondary.named(context, Secret.class, TunnelResources.credentialsSecretName(tunnel)),
                Secondary.routeToken(context, tunnel));
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.entryConfigSecretName(tunnel),
                tunnel.getMetadata().getNamespace());
    }
}
