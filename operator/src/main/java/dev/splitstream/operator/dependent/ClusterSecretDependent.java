package dev.splitstream.operator.dependent;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExitModel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;

/** The secret authenticating replica-to-replica traffic; only while the exit uses the PostgreSQL registry. */
@KubernetesDependent(informer = @Informer(labelSelector = TunnelResources.SELECT_CREDENTIALS))
public class ClusterSecretDependent extends GeneratedSecretDependent {
    public static final String NAME = "cluster-secret";

    @Override
    String name(Tunnel tunnel) {
        return TunnelResources.clusterSecretName(tunnel);
    }

    public static class UsesRegistry implements Condition<Secret, Tunnel> {
        @Override
        public boolean isMet(DependentResource<Secret, Tunnel> dependent, Tunnel tunnel, Context<Tunnel> context) {
            return ExitModel.usesRegistry(tunnel.getSpec());
        }
    }
}
