package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.Credentials;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.GarbageCollected;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/**
 * The generated token, its tokens file and per-id token files. Created once and never updated by the workflow (Creator only), so a generated
 * key is never regenerated; rotation is an explicit step of the reconciler.
 */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_CREDENTIALS))
public class CredentialsSecretDependent extends KubernetesDependentResource<Secret, Tunnel>
        implements Creator<Secret, Tunnel>, GarbageCollected<Tunnel> {
    public static final String NAME = "credentials";

    public CredentialsSecretDependent() {
        super(Secret.class);
    }

    @Override
    protected Secret desired(Tunnel tunnel, Context<Tunnel> context) {
        return Credentials.generate(tunnel);
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(
                TunnelResources.credentialsSecretName(tunnel),
                tunnel.getMetadata().getNamespace());
    }
}
