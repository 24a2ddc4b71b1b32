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

/** The bearer token of the exit's Hub API; only while `spec.expose.hub` is on. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_CREDENTIALS))
public class HubTokenSecretDependent extends GeneratedSecretDependent {
    public static final String NAME = "hub-token";

    @Override
    String name(Tunnel tunnel) {
        return TunnelResources.hubTokenSecretName(tunnel);
    }

    public static class HubOn implements Condition<Secret, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Secret, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return ExposeModel.hasHub(tunnel);
        }
    }
}
