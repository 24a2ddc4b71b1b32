package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import org.junit.jupiter.api.Test;

class ExitModelTest {
    private final Tunnel tunnel = Tunnels.forward("db", "prod");

    @Test
    void deploymentIsNamedLabelledAndOwnedByTheTunnel() {
        Deployment deployment = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN);

        assertThat(deployment.getMetadata().getName()).isEqualTo("db-exit");
        assertThat(deployment.getMetadata().getNamespace()).isEqualTo("prod");
        assertThat(deployment.getMetadata().getLabels())
                .containsEntry("app.kubernetes.io/name", "splitstream")
                .containsEntry("app.kubernetes.io/instance", "db")
                .containsEntry("app.kubernetes.io/component", "exit")
                .containsEntry("app.kubernetes.io/managed-by", "splitstream-operator");
        assertThat(deployment.getMetadata().getOwnerReferences())
                .singleElement()
                .satisfies(ref -> {
                    assertThat(ref.getKind()).isEqualTo("Tunnel");
                    assertThat(ref.getApiVersion()).isEqualTo("splitstream.dev/v1alpha1");
                    assertThat(ref.getUid()).isEqualTo(tunnel.getMetadata().getUid());
                    assertThat(ref.getController()).isTrue();
                });
        assertThat(deployment.getSpec().getSelector().getMatchLabels())
                .doesNotContainKey("app.kubernetes.io/managed-by")
                .containsEntry("app.kubernetes.io/component", "exit");
        assertThat(deployment.getSpec().getTemplate().getMetadata().getLabels())
                .containsAllEntriesOf(deployment.getSpec().getSelector().getMatchLabels());
    }

    @Test
    void containerHasProbesHardeningResourcesAndContractEnvironment() {
        Deployment deployment = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN);
        var pod = deployment.getSpec().getTemplate().getSpec();
        Container exit = pod.getContainers().get(0);

        assertThat(exit.getImage()).isEqualTo("splitstream/exit-node:0.1.0");
        assertThat(exit.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        assertThat(exit.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(exit.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(exit.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(exit.getVolumeMounts())
                .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
        assertThat(pod.getVolumes()).anySatisfy(v -> {
            assertThat(v.getName()).isEqualTo("tmp");
            assertThat(v.getEmptyDir()).isNotNull();
        });
        assertThat(exit.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(env(exit, "QUARKUS_HTTP_PORT")).isEqualTo("8080");
        assertThat(env(exit, "SPLITSTREAM_EXIT_ALLOW")).isEqualTo("db.prod.svc:5432");
        assertThat(env(exit, "SPLITSTREAM_EXIT_TOKENS_FILE")).isEqualTo("/etc/splitstream/tokens/tokens");
        assertThat(deployment.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry("prometheus.io/scrape", "true")
                .containsEntry("prometheus.io/path", "/q/metrics")
                .containsEntry("prometheus.io/port", "8080");
    }

    @Test
    void tokensFileIsMountedAsADirectorySoKubeletRefreshesIt() {
        var pod = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN)
                .getSpec()
                .getTemplate()
                .getSpec();
        assertThat(pod.getContainers().get(0).getVolumeMounts())
                .filteredOn(m -> m.getName().equals("tokens"))
                .singleElement()
                .satisfies(m -> {
                    assertThat(m.getMountPath()).isEqualTo(TOKENS_MOUNT_PATH);
                    assertThat(m.getSubPath()).isNull();
                });
        assertThat(pod.getVolumes())
                .filteredOn(v -> v.getName().equals("tokens"))
                .singleElement()
                .satisfies(v -> assertThat(v.getSecret().getSecretName()).isEqualTo("db-credentials"));
    }

    @Test
    void existingSecretReplacesTheTokensFileWithASecretReference() {
        tunnel.getSpec().token.existingSecret = "shared-token";
        tunnel.getSpec().token.id = "team-a";
        Container exit = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN)
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0);
        assertThat(exit.getEnv()).noneMatch(e -> e.getName().equals("SPLITSTREAM_EXIT_TOKENS_FILE"));
        assertThat(exit.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("SPLITSTREAM_TOKEN");
            assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("shared-token");
            assertThat(e.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("token");
        });
        assertThat(env(exit, "SPLITSTREAM_TOKEN_ID")).isEqualTo("team-a");
    }

    @Test
    void specOverridesReplicasImageResourcesAndAllowList() {
        tunnel.getSpec().exit.replicas = 3;
        tunnel.getSpec().exit.image = "registry.local/exit:dev";
        tunnel.getSpec().exit.resources = new ResourceRequirementsBuilder()
                .addToRequests("memory", new Quantity("1Gi"))
                .build();
        tunnel.getSpec().allow = List.of("10.0.0.0/8:*", "db.prod.svc:5432");
        Deployment deployment = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN);
        Container exit =
                deployment.getSpec().getTemplate().getSpec().getContainers().get(0);

        assertThat(deployment.getSpec().getReplicas()).isEqualTo(3);
        assertThat(exit.getImage()).isEqualTo("registry.local/exit:dev");
        assertThat(exit.getResources().getRequests()).containsEntry("memory", new Quantity("1Gi"));
        assertThat(env(exit, "SPLITSTREAM_EXIT_ALLOW")).isEqualTo("db.prod.svc:5432,10.0.0.0/8:*");
    }

    @Test
    void exposeModeDoesNotAllowTheTargetsOnTheExit() {
        tunnel.getSpec().mode = "expose";
        assertThat(ExitModel.allowList(tunnel.getSpec())).isEmpty();
        Container exit = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN)
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0);
        assertThat(exit.getEnv()).noneMatch(e -> e.getName().equals("SPLITSTREAM_EXIT_ALLOW"));
    }

    @Test
    void serviceSelectsTheExitPodsOnTheHttpPort() {
        tunnel.getSpec().exit.serviceType = "LoadBalancer";
        Service service = ExitModel.service(tunnel);
        assertThat(service.getMetadata().getName()).isEqualTo("db-exit");
        assertThat(service.getSpec().getType()).isEqualTo("LoadBalancer");
        assertThat(service.getSpec().getSelector()).isEqualTo(selector(tunnel, COMPONENT_EXIT));
        assertThat(service.getSpec().getPorts()).singleElement().satisfies(p -> {
            assertThat(p.getPort()).isEqualTo(8080);
            assertThat(p.getTargetPort().getStrVal()).isEqualTo("http");
        });
        assertThat(service.getMetadata().getOwnerReferences()).hasSize(1);
    }

    private static String env(Container container, String name) {
        return container.getEnv().stream()
                .filter(e -> e.getName().equals(name))
                .map(EnvVar::getValue)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no env " + name));
    }
}
