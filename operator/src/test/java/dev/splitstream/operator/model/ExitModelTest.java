package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.DashboardSpec;
import dev.splitstream.operator.crd.v1alpha1.RegistrySpec;
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
        assertThat(exit.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("management");
        assertThat(exit.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("management");
        assertThat(exit.getPorts())
                .extracting(p -> p.getName() + "=" + p.getContainerPort())
                .containsExactly("http=8080", "management=9000");
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
        assertThat(env(exit, "QUARKUS_MANAGEMENT_PORT")).isEqualTo("9000");
        assertThat(env(exit, "QUARKUS_MANAGEMENT_HOST")).isEqualTo("0.0.0.0");
        assertThat(deployment.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry("prometheus.io/scrape", "true")
                .containsEntry("prometheus.io/path", "/q/metrics")
                .containsEntry("prometheus.io/port", "9000");
        assertThat(exit.getEnv())
                .extracting(EnvVar::getName)
                .as("no key nothing reads, no expose, registry or dashboard settings in a plain forward tunnel")
                .doesNotContain(
                        "SPLITSTREAM_HMAC_KEY",
                        "SPLITSTREAM_TOKEN",
                        "SPLITSTREAM_ENCRYPTION",
                        "SPLITSTREAM_EXIT_PUBLIC_PORTS",
                        "SPLITSTREAM_EXIT_HUB_TOKEN",
                        "SPLITSTREAM_EXIT_REGISTRY",
                        "SPLITSTREAM_EXIT_REPLICA_URL",
                        "SPLITSTREAM_EXIT_DASHBOARD_PASSWORD");
    }

    @Test
    void encryptionPassesThroughOnlyWhenSet() {
        tunnel.getSpec().encryption = "off";
        assertThat(env(exitContainer(), "SPLITSTREAM_ENCRYPTION")).isEqualTo("off");
    }

    @Test
    void exposeModeConfiguresPublicPortsLeaseDomainAndHub() {
        Tunnels.expose(tunnel);
        tunnel.getSpec().expose.lease = "30m";
        tunnel.getSpec().expose.hub = true;
        Container exit = exitContainer();
        assertThat(env(exit, "SPLITSTREAM_EXIT_PUBLIC_PORTS")).isEqualTo("10000-10009");
        assertThat(env(exit, "SPLITSTREAM_EXIT_LEASE")).isEqualTo("30m");
        assertThat(env(exit, "SPLITSTREAM_EXIT_HTTP_DOMAIN")).isEqualTo("apps.example.com");
        assertThat(secretRef(exit, "SPLITSTREAM_EXIT_HUB_TOKEN")).isEqualTo("db-hub-token/token");

        tunnel.getSpec().expose.hub = false;
        tunnel.getSpec().expose.publicPorts = null;
        tunnel.getSpec().expose.httpDomain = null;
        assertThat(exitContainer().getEnv())
                .extracting(EnvVar::getName)
                .doesNotContain(
                        "SPLITSTREAM_EXIT_HUB_TOKEN", "SPLITSTREAM_EXIT_PUBLIC_PORTS", "SPLITSTREAM_EXIT_HTTP_DOMAIN");
    }

    @Test
    void registryConfiguresPostgresFromTheSecretAndTheReplicaUrlFromThePodIp() {
        tunnel.getSpec().exit.replicas = 3;
        tunnel.getSpec().registry = new RegistrySpec();
        tunnel.getSpec().registry.secretName = "exit-db";
        Container exit = exitContainer();
        assertThat(env(exit, "SPLITSTREAM_EXIT_REGISTRY")).isEqualTo("postgres");
        assertThat(secretRef(exit, "QUARKUS_DATASOURCE_JDBC_URL")).isEqualTo("exit-db/jdbc-url");
        assertThat(secretRef(exit, "QUARKUS_DATASOURCE_USERNAME")).isEqualTo("exit-db/username");
        assertThat(secretRef(exit, "QUARKUS_DATASOURCE_PASSWORD")).isEqualTo("exit-db/password");
        assertThat(secretRef(exit, "SPLITSTREAM_EXIT_CLUSTER_SECRET")).isEqualTo("db-cluster-secret/token");
        List<String> names = exit.getEnv().stream().map(EnvVar::getName).toList();
        assertThat(names.indexOf("POD_IP"))
                .as("$(POD_IP) expands only variables defined before it")
                .isLessThan(names.indexOf("SPLITSTREAM_EXIT_REPLICA_URL"));
        assertThat(exit.getEnv()
                        .get(names.indexOf("POD_IP"))
                        .getValueFrom()
                        .getFieldRef()
                        .getFieldPath())
                .isEqualTo("status.podIP");
        assertThat(env(exit, "SPLITSTREAM_EXIT_REPLICA_URL")).isEqualTo("http://$(POD_IP):8080");
        assertThat(ExitModel.registry(tunnel.getSpec())).isEqualTo("postgres");

        Service peers = ExitModel.peersService(tunnel);
        assertThat(peers.getMetadata().getName()).isEqualTo("db-exit-peers");
        assertThat(peers.getSpec().getClusterIP()).isEqualTo("None");
        assertThat(peers.getSpec().getPublishNotReadyAddresses()).isTrue();
        assertThat(peers.getSpec().getSelector()).isEqualTo(selector(tunnel, COMPONENT_EXIT));
    }

    @Test
    void dashboardCredentialsComeFromTheNamedSecret() {
        tunnel.getSpec().exit.dashboard = new DashboardSpec();
        tunnel.getSpec().exit.dashboard.secretName = "ops-dashboard";
        tunnel.getSpec().exit.dashboard.passwordKey = "pw";
        Container exit = exitContainer();
        assertThat(secretRef(exit, "SPLITSTREAM_EXIT_DASHBOARD_USER")).isEqualTo("ops-dashboard/username");
        assertThat(secretRef(exit, "SPLITSTREAM_EXIT_DASHBOARD_PASSWORD")).isEqualTo("ops-dashboard/pw");
    }

    private Container exitContainer() {
        return ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN)
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0);
    }

    private static String secretRef(Container container, String name) {
        return container.getEnv().stream()
                .filter(e -> e.getName().equals(name))
                .map(e -> e.getValueFrom().getSecretKeyRef())
                .map(r -> r.getName() + "/" + r.getKey())
                .findFirst()
                .orElseThrow(() -> new AssertionError("no secret env " + name));
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
    void existingSecretReplacesTheTokensFileWithAMountedTokenFile() {
        tunnel.getSpec().token.existingSecret = "shared-token";
        tunnel.getSpec().token.existingSecretKey = "secret";
        tunnel.getSpec().token.id = "team-a";
        var pod = ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN)
                .getSpec()
                .getTemplate()
                .getSpec();
        Container exit = pod.getContainers().get(0);
        assertThat(exit.getEnv())
                .extracting(EnvVar::getName)
                .doesNotContain("SPLITSTREAM_EXIT_TOKENS_FILE", "SPLITSTREAM_TOKEN");
        assertThat(env(exit, "SPLITSTREAM_TOKEN_FILE")).isEqualTo("/etc/splitstream/token/token");
        assertThat(env(exit, "SPLITSTREAM_TOKEN_ID")).isEqualTo("team-a");
        assertThat(exit.getVolumeMounts())
                .filteredOn(m -> m.getName().equals("token"))
                .singleElement()
                .satisfies(m -> {
                    assertThat(m.getMountPath()).isEqualTo("/etc/splitstream/token");
                    assertThat(m.getSubPath()).isNull();
                });
        assertThat(pod.getVolumes())
                .filteredOn(v -> v.getName().equals("token"))
                .singleElement()
                .satisfies(v -> {
                    assertThat(v.getSecret().getSecretName()).isEqualTo("shared-token");
                    assertThat(v.getSecret().getItems()).singleElement().satisfies(i -> assertThat(
                                    i.getKey() + "->" + i.getPath())
                            .isEqualTo("secret->token"));
                });
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
