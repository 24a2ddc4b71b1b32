package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class EntryModelTest {
    @Test
    void unsplitTunnelInTheClusterUsesTheExitServiceUrl() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().entry.socks = "0.0.0.0:1080";
        Map<String, String> env = EntryModel.environment(tunnel, Optional.empty(), Optional.empty());
        assertThat(env)
                .containsEntry("SPLITSTREAM_ENTRY_SERVER", "ws://db-exit.prod.svc:8080")
                .containsEntry("SPLITSTREAM_ENTRY_FORWARDS", "5432=db.prod.svc:5432")
                .containsEntry("SPLITSTREAM_ENTRY_SOCKS", "0.0.0.0:1080")
                .containsEntry("SPLITSTREAM_ENTRY_TRANSPORT", "websocket")
                .doesNotContainKeys("SPLITSTREAM_ENTRY_UPSTREAM", "SPLITSTREAM_ENTRY_DOWNSTREAM");
    }

    @Test
    void splitTunnelGetsUpstreamAndDownstreamUrls() {
        Tunnel tunnel = Tunnels.split("db", "prod");
        tunnel.getSpec().transport = "http";
        Map<String, String> env = EntryModel.environment(tunnel, Optional.empty(), Optional.empty());
        assertThat(env)
                .containsEntry("SPLITSTREAM_ENTRY_UPSTREAM", "https://up.example.com")
                .containsEntry("SPLITSTREAM_ENTRY_DOWNSTREAM", "https://down.example.net")
                .containsEntry("SPLITSTREAM_ENTRY_TRANSPORT", "http")
                .doesNotContainKey("SPLITSTREAM_ENTRY_SERVER");
    }

    @Test
    void configSecretPointsSidecarsAtTheTokenFileOfTheCurrentIdNeverAtTheToken() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        Secret credentials = Credentials.generate(tunnel);
        Secret config = EntryModel.configSecret(tunnel, Optional.of(credentials), Optional.empty());
        Map<String, String> env = Credentials.decode(config);
        String id = Credentials.value(credentials, KEY_TOKEN_ID);
        assertThat(config.getMetadata().getName()).isEqualTo("db-entry");
        assertThat(config.getMetadata().getOwnerReferences()).hasSize(1);
        assertThat(env)
                .containsEntry("SPLITSTREAM_TOKEN_ID", id)
                .containsEntry("SPLITSTREAM_TOKEN_FILE", "/etc/splitstream/token/token." + id)
                .doesNotContainKeys("SPLITSTREAM_TOKEN", "SPLITSTREAM_HMAC_KEY", "SPLITSTREAM_ENCRYPTION");
        assertThat(env.values()).doesNotContain(Credentials.value(credentials, KEY_TOKEN));
        assertThat(Credentials.decode(credentials)).containsKey("token." + id);
    }

    @Test
    void existingSecretIsReadFromItsFileWithTheConfiguredId() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().token.existingSecret = "shared";
        tunnel.getSpec().token.id = "team-a";
        tunnel.getSpec().encryption = "on";
        assertThat(EntryModel.environment(tunnel, Optional.of(Credentials.generate(tunnel)), Optional.empty()))
                .containsEntry("SPLITSTREAM_TOKEN_ID", "team-a")
                .containsEntry("SPLITSTREAM_TOKEN_FILE", "/etc/splitstream/token/token")
                .containsEntry("SPLITSTREAM_ENCRYPTION", "on");
        var pod = EntryModel.deployment(tunnel, OperatorDefaults.BUILT_IN, "d")
                .getSpec()
                .getTemplate()
                .getSpec();
        assertThat(pod.getVolumes())
                .filteredOn(v -> v.getName().equals("token"))
                .singleElement()
                .satisfies(v -> {
                    assertThat(v.getSecret().getSecretName()).isEqualTo("shared");
                    assertThat(v.getSecret().getItems()).singleElement().satisfies(i -> assertThat(i.getPath())
                            .isEqualTo("token"));
                });
    }

    @Test
    void deploymentLoadsTheConfigSecretAndRollsWhenItChanges() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        Deployment deployment = EntryModel.deployment(tunnel, OperatorDefaults.BUILT_IN, "abc");
        Container entry =
                deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(deployment.getMetadata().getName()).isEqualTo("db-entry");
        assertThat(deployment.getMetadata().getLabels()).containsEntry(LABEL_COMPONENT, COMPONENT_ENTRY);
        assertThat(entry.getEnvFrom())
                .singleElement()
                .satisfies(from -> assertThat(from.getSecretRef().getName()).isEqualTo("db-entry"));
        assertThat(entry.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(entry.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("management");
        assertThat(entry.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("management");
        assertThat(entry.getPorts()).anySatisfy(p -> {
            assertThat(p.getName()).isEqualTo("management");
            assertThat(p.getContainerPort()).isEqualTo(9000);
        });
        assertThat(entry.getEnv()).anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue())
                .isEqualTo("QUARKUS_MANAGEMENT_PORT=9000"));
        assertThat(entry.getEnv()).as("the entry runs no HTTP server").noneMatch(e -> e.getName()
                .equals("QUARKUS_HTTP_PORT"));
        assertThat(entry.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(deployment.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry(ANNOTATION_CONFIG_DIGEST, "abc")
                .containsEntry("prometheus.io/port", "9000");
        assertThat(entry.getVolumeMounts())
                .filteredOn(m -> m.getName().equals("token"))
                .singleElement()
                .satisfies(m -> {
                    assertThat(m.getMountPath()).isEqualTo("/etc/splitstream/token");
                    assertThat(m.getSubPath())
                            .as("kubelet refreshes only whole-directory mounts")
                            .isNull();
                });
        assertThat(deployment.getSpec().getTemplate().getSpec().getVolumes())
                .filteredOn(v -> v.getName().equals("token"))
                .singleElement()
                .satisfies(v -> {
                    assertThat(v.getSecret().getSecretName()).isEqualTo("db-credentials");
                    assertThat(v.getSecret().getItems())
                            .as("every token.<id> file")
                            .isNullOrEmpty();
                });

        Map<String, String> before =
                EntryModel.environment(tunnel, Optional.of(Credentials.generate(tunnel)), Optional.empty());
        Map<String, String> after =
                EntryModel.environment(tunnel, Optional.of(Credentials.generate(tunnel)), Optional.empty());
        assertThat(EntryModel.digest(before)).isNotEqualTo(EntryModel.digest(after));
        assertThat(EntryModel.digest(before)).isEqualTo(EntryModel.digest(Map.copyOf(before)));
    }

    @Test
    void sidecarOnlyHasNoDeployment() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        assertThat(EntryModel.hasDeployment(tunnel)).isTrue();
        tunnel.getSpec().entry.sidecarOnly = true;
        assertThat(EntryModel.hasDeployment(tunnel)).isFalse();
    }

    @Test
    void exposeModeHandsTheServicesAgentRouteTokenAndHostPatternToTheEntry() {
        Tunnel tunnel = Tunnels.expose(Tunnels.forward("web", "prod"));
        tunnel.getSpec().expose.agent = "shop";
        tunnel.getSpec().expose.httpHosts = "^https?://[a-z]+\\.shop\\.svc(:[0-9]+)?$";
        assertThat(EntryModel.environment(tunnel, Optional.empty(), Optional.of("r".repeat(43))))
                .containsEntry("SPLITSTREAM_ENTRY_EXPOSE", "ssh=ssh.shop.svc:22,web=http://web.shop.svc:8080")
                .containsEntry("SPLITSTREAM_ENTRY_AGENT", "shop")
                .containsEntry("SPLITSTREAM_ENTRY_ROUTE_TOKEN", "r".repeat(43))
                .containsEntry("SPLITSTREAM_ENTRY_HTTP_HOSTS", "^https?://[a-z]+\\.shop\\.svc(:[0-9]+)?$");

        tunnel.getSpec().expose.routeToken = false;
        assertThat(EntryModel.environment(tunnel, Optional.empty(), Optional.of("r".repeat(43))))
                .as("route tokens off: a leftover Secret is not used")
                .doesNotContainKey("SPLITSTREAM_ENTRY_ROUTE_TOKEN");
        tunnel.getSpec().mode = "forward";
        assertThat(EntryModel.environment(tunnel, Optional.empty(), Optional.empty()))
                .doesNotContainKeys("SPLITSTREAM_ENTRY_EXPOSE", "SPLITSTREAM_ENTRY_AGENT");
    }

    @Test
    void serviceExposesOnlyListenersBoundBeyondLoopback() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().entry.forwards = List.of("5432=db:5432", "0.0.0.0:6432=db:5432", "127.0.0.1:7000=db:1");
        tunnel.getSpec().entry.socks = "0.0.0.0:1080";
        assertThat(EntryModel.servicePorts(tunnel))
                .containsExactly(Map.entry("fwd-6432", 6432), Map.entry("socks", 1080));
        var service = EntryModel.service(tunnel);
        assertThat(service.getMetadata().getName()).isEqualTo("db-entry");
        assertThat(service.getSpec().getSelector()).containsEntry(LABEL_COMPONENT, COMPONENT_ENTRY);
        assertThat(service.getSpec().getPorts()).extracting(p -> p.getPort()).containsExactly(6432, 1080);
        assertThat(EntryModel.hasService(tunnel)).isTrue();

        tunnel.getSpec().entry.forwards = List.of("5432=db:5432");
        tunnel.getSpec().entry.socks = null;
        assertThat(EntryModel.hasService(tunnel))
                .as("a sidecar-style listener serves only its pod")
                .isFalse();
    }
}
