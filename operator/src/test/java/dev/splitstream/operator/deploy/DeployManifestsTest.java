package dev.splitstream.operator.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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

    @Test
    void clusterRoleGrantsWhatTheReconcilerUsesAndNoMore() throws IOException {
        ClusterRole role =
                Serialization.unmarshal(Files.readString(DEPLOY.resolve("clusterrole.yaml")), ClusterRole.class);
        Map<String, List<String>> expected = Map.of(
                "splitstream.dev/tunnels", List.of("get", "list", "watch"),
                "splitstream.dev/tunnels/status", List.of("get", "patch", "update"),
                "/secrets", List.of("get", "list", "watch", "create", "patch", "update"),
                "/services", List.of("get", "list", "watch", "create", "patch", "update", "delete"),
                "apps/deployments", List.of("get", "list", "watch", "create", "patch", "update", "delete"),
                "networking.k8s.io/ingresses", List.of("get", "list", "watch", "create", "patch", "update", "delete"),
                "/events", List.of("create"));
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
