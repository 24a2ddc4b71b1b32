package dev.splitstream.operator.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.reconciler.TunnelReconciler;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.Updater;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;
import java.io.IOException;
import java.lang.reflect.ParameterizedType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** deploy/operator stays in step with what the operator does (what `kubectl apply -k deploy/operator` installs). */
class DeployManifestsTest {
    private static final Path DEPLOY = Path.of("..", "deploy", "operator", "base");

    @Test
    @SuppressWarnings("unchecked")
    void kustomizationIncludesTheCommittedCrdThroughItsOwnKustomization() throws IOException {
        GenericKubernetesResource kustomization = read(DEPLOY.resolve("kustomization.yaml"));
        List<String> resources =
                (List<String>) kustomization.getAdditionalProperties().get("resources");
        assertThat(resources)
                .contains("../../../crds", "clusterrole.yaml", "clusterrolebinding.yaml", "deployment.yaml");
        assertThat((List<Object>) read(DEPLOY.resolveSibling("kustomization.yaml"))
                        .getAdditionalProperties()
                        .get("resources"))
                .containsExactly("base");
        assertThat((List<Object>) read(DEPLOY.resolveSibling("webhook").resolve("kustomization.yaml"))
                        .getAdditionalProperties()
                        .get("resources"))
                .contains("../base", "mutatingwebhookconfiguration.yaml");
        GenericKubernetesResource crds = read(Path.of("..", "crds", "kustomization.yaml"));
        assertThat((List<Object>) crds.getAdditionalProperties().get("resources"))
                .containsExactly("tunnels.splitstream.dev-v1.yml");
        for (String resource : resources) {
            assertThat(DEPLOY.resolve(resource)).exists();
        }
    }

    /**
     * What the reconciler needs, derived from its workflow: every dependent's informer lists and watches its kind, a
     * Creator creates it, an Updater patches and updates it, a dependent with a reconcile precondition is deleted when
     * the precondition fails. Then what the reconciler does by hand: status patches, token rotation (Secret update),
     * reading referenced Secrets and Tunnels (webhook), Events.
     */
    static Map<String, Set<String>> neededPermissions() {
        Map<String, Set<String>> needed = new TreeMap<>();
        Workflow workflow = TunnelReconciler.class.getAnnotation(Workflow.class);
        for (Dependent dependent : workflow.dependents()) {
            Class<? extends HasMetadata> kind = resourceType(dependent.type());
            Set<String> verbs = needed.computeIfAbsent(
                    HasMetadata.getGroup(kind) + "/" + HasMetadata.getPlural(kind), k -> new TreeSet<>());
            verbs.addAll(List.of("get", "list", "watch"));
            if (Creator.class.isAssignableFrom(dependent.type())) {
                verbs.add("create");
            }
            if (Updater.class.isAssignableFrom(dependent.type())) {
                verbs.addAll(List.of("patch", "update"));
            }
            if (dependent.reconcilePrecondition() != Condition.class) {
                verbs.add("delete");
            }
        }
        needed.computeIfAbsent("splitstream.dev/tunnels", k -> new TreeSet<>()).addAll(List.of("get", "list", "watch"));
        needed.computeIfAbsent("splitstream.dev/tunnels/status", k -> new TreeSet<>())
                .addAll(List.of("get", "patch", "update"));
        // TokenRotation updates the create-only credentials Secret; SSA patches it.
        needed.get("/secrets").addAll(List.of("patch", "update"));
        needed.computeIfAbsent("/events", k -> new TreeSet<>()).add("create");
        return needed;
    }

    @SuppressWarnings("unchecked")
    private static Class<? extends HasMetadata> resourceType(Class<?> dependent) {
        for (Class<?> c = dependent; c != null; c = c.getSuperclass()) {
            if (c.getGenericSuperclass() instanceof ParameterizedType p
                    && p.getActualTypeArguments()[0] instanceof Class<?> r
                    && HasMetadata.class.isAssignableFrom(r)) {
                return (Class<? extends HasMetadata>) r;
            }
        }
        throw new AssertionError("no resource type for " + dependent);
    }

    @Test
    void clusterRoleGrantsWhatTheReconcilerUsesAndNoMore() throws IOException {
        ClusterRole role =
                Serialization.unmarshal(Files.readString(DEPLOY.resolve("clusterrole.yaml")), ClusterRole.class);
        Map<String, Set<String>> expected = neededPermissions();
        assertThat(expected)
                .as("derived from the workflow")
                .containsKeys("/secrets", "/services", "apps/deployments", "networking.k8s.io/ingresses");
        assertThat(expected.get("/secrets"))
                .as("generated Secrets go when no longer needed")
                .contains("delete");
        for (var entry : expected.entrySet()) {
            String group = entry.getKey().substring(0, entry.getKey().indexOf('/'));
            String resource = entry.getKey().substring(entry.getKey().indexOf('/') + 1);
            List<PolicyRule> rules = role.getRules().stream()
                    .filter(r ->
                            r.getApiGroups().contains(group) && r.getResources().contains(resource))
                    .toList();
            assertThat(rules).as(entry.getKey()).singleElement().satisfies(r -> assertThat(r.getVerbs())
                    .containsExactlyInAnyOrderElementsOf(entry.getValue()));
        }
        assertThat(role.getRules()).allSatisfy(r -> assertThat(r.getVerbs()).doesNotContain("*"));
        assertThat(role.getRules().stream()
                        .mapToInt(r -> r.getResources().size())
                        .sum())
                .as("nothing granted that the reconciler does not use")
                .isEqualTo(expected.size());
    }

    @Test
    void operatorPodIsHardened() throws IOException {
        Deployment deployment =
                Serialization.unmarshal(Files.readString(DEPLOY.resolve("deployment.yaml")), Deployment.class);
        var pod = deployment.getSpec().getTemplate().getSpec();
        var container = pod.getContainers().get(0);
        assertThat(pod.getServiceAccountName()).isEqualTo("splitstream-operator");
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(container.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(container.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        assertThat(container.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(container.getVolumeMounts())
                .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
    }

    private static GenericKubernetesResource read(Path file) throws IOException {
        return Serialization.unmarshal(Files.readString(file), GenericKubernetesResource.class);
    }
}
