package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExposeModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;

/** The route token of the agent's HTTP services (`/_token/<t>/`, `X-Token`); only while an HTTP service is exposed with route tokens on. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_CREDENTIALS))
public class RouteTokenSecretDependent extends GeneratedSecretDependent {
    public static final String NAME = "route-token";

    @Override
    String name(Tunnel tunnel) {
        return TunnelResources.routeTokenSecretName(tunnel);
    }

    public static class HasRouteToken implements Condition<Secret, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Secret, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return ExposeModel.hasRouteToken(tunnel);
        }
    }
}
