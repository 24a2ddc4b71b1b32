package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.Credentials;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import java.util.Optional;

/**
 * A secondary resource by name. Several dependents share a type (two Secrets, two Deployments, two Ingresses) and
 * each informer sees every resource of its type the Tunnel owns, so lookups by type alone are ambiguous.
 */
public final class Secondary {
    private Secondary() {}

    /** The generated route token, once its Secret exists. */
    public static Optional<String> routeToken(Context<Tunnel> context, Tunnel tunnel) {
        return named(context, Secret.class, TunnelResources.routeTokenSecretName(tunnel))
                .map(s -> Credentials.value(s, TunnelResources.KEY_GENERATED_TOKEN));
    }

    public static <R extends HasMetadata> Optional<R> named(Context<Tunnel> context, Class<R> type, String name) {
        return context.getSecondaryResourcesAsStream(type, true)
                .filter(r -> name.equals(r.getMetadata().getName()))
                .findFirst();
    }
}
