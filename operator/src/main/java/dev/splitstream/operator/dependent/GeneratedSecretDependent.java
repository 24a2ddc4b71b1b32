package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.Credentials;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.GarbageCollected;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/**
 * A generated single-value Secret (key {@code token}): created once and never updated (Creator only), so a generated
 * value is never regenerated while it is in use; deleted when the Tunnel stops needing it (its precondition).
 */
abstract class GeneratedSecretDependent extends KubernetesDependentResource<Secret, Tunnel>
        implements Creator<Secret, Tunnel>, GarbageCollected<Tunnel> {

    GeneratedSecretDependent() {
        super(Secret.class);
    }

    abstract String name(Tunnel tunnel);

    @Override
    protected Secret desired(Tunnel tunnel, Context<Tunnel> context) {
        return Credentials.generated(tunnel, name(tunnel));
    }

    @Override
    protected ResourceID targetSecondaryResourceID(Tunnel tunnel, Context<Tunnel> context) {
        return new ResourceID(name(tunnel), tunnel.getMetadata().getNamespace());
    }
}
