package dev.splitstream.operator.reconciler;

import static dev.splitstream.operator.model.TunnelResources.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.operator.crd.v1alpha1.RegistrySpec;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.Credentials;
import dev.splitstream.operator.model.Tunnels;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceStatusBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The operator against the Kubernetes mock server in CRUD mode. The mock has no garbage collector, no controllers
 * and no schema validation: deletion is checked through owner references, Deployment readiness is set by the test.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class TunnelReconcilerIT {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    KubernetesClient client;

    @Test
    void createsEveryDependentWithItsContent() {
        String ns = "create";
        Tunnel t1 = Tunnels.split("t1", ns);
        t1.getSpec().entry.socks = "0.0.0.0:1080";
        Tunnel tunnel = client.resource(t1).create();

        Secret credentials = awaitResource(Secret.class, ns, "t1-credentials");
        Secret entryConfig = awaitResource(Secret.class, ns, "t1-entry");
        Deployment exit = awaitResource(Deployment.class, ns, "t1-exit");
        Service service = awaitResource(Service.class, ns, "t1-exit");
        Ingress up = awaitResource(Ingress.class, ns, "t1-upstream");
        Ingress down = awaitResource(Ingress.class, ns, "t1-downstream");
        Deployment entry = awaitResource(Deployment.class, ns, "t1-entry");
        Service entryService = awaitResource(Service.class, ns, "t1-entry");
        assertThat(entryService.getSpec().getPorts()).singleElement().satisfies(p -> assertThat(p.getPort())
                .isEqualTo(1080));

        for (HasMetadata resource : List.of(credentials, entryConfig, exit, service, up, down, entry, entryService)) {
            assertThat(resource.getMetadata().getOwnerReferences())
                    .as("owner of %s", resource.getMetadata().getName())
                    .singleElement()
                    .satisfies(ref -> assertOwnedBy(ref, tunnel));
            assertThat(resource.getMetadata().getLabels())
                    .containsEntry(LABEL_NAME, APP_NAME)
                    .containsEntry(LABEL_INSTANCE, "t1")
                    .containsEntry(LABEL_MANAGED_BY, MANAGED_BY)
                    .containsKey(LABEL_COMPONENT);
        }

        Map<String, String> secrets = Credentials.decode(credentials);
        assertThat(secrets)
                .containsKeys(KEY_TOKEN, KEY_TOKEN_ID, KEY_TOKENS_FILE, tokenKey(secrets.get(KEY_TOKEN_ID)))
                .doesNotContainKey("hmac-key");
        assertThat(Credentials.acceptedTokens(secrets.get(KEY_TOKENS_FILE)))
                .containsExactly(Map.entry(secrets.get(KEY_TOKEN_ID), secrets.get(KEY_TOKEN)));

        Map<String, String> entryEnv = Credentials.decode(entryConfig);
        assertThat(entryEnv)
                .containsEntry("SPLITSTREAM_ENTRY_UPSTREAM", "wss://up.example.com")
                .containsEntry("SPLITSTREAM_ENTRY_DOWNSTREAM", "wss://down.example.net")
                .containsEntry("SPLITSTREAM_ENTRY_FORWARDS", "5432=db.prod.svc:5432")
                .containsEntry("SPLITSTREAM_ENTRY_TRANSPORT", "websocket")
                .containsEntry("SPLITSTREAM_TOKEN_ID", secrets.get(KEY_TOKEN_ID))
                .containsEntry("SPLITSTREAM_TOKEN_FILE", TOKEN_MOUNT_PATH + "/" + tokenKey(secrets.get(KEY_TOKEN_ID)))
                .doesNotContainKey("SPLITSTREAM_TOKEN")
                .doesNotContainKey("SPLITSTREAM_ENTRY_SERVER");

        var container = exit.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(env(container.getEnv(), "SPLITSTREAM_EXIT_ALLOW")).isEqualTo("db.prod.svc:5432");
        assertThat(env(container.getEnv(), "SPLITSTREAM_EXIT_TOKENS_FILE")).isEqualTo(TOKENS_FILE_PATH);
        assertThat(container.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(container.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(up.getSpec().getRules().get(0).getHost()).isEqualTo("up.example.com");
        assertThat(up.getSpec().getTls().get(0).getSecretName()).isEqualTo("up-tls");
        assertThat(down.getSpec().getRules().get(0).getHost()).isEqualTo("down.example.net");
        assertThat(down.getMetadata().getAnnotations())
                .containsEntry("nginx.ingress.kubernetes.io/upstream-hash-by", "$http_x_splitstream_session");

        Tunnel waiting = awaitCondition(ns, "t1", "Ready", "False", "ExitNotReady");
        assertThat(waiting.getStatus().observedGeneration).isEqualTo(1L);
        assertThat(waiting.getStatus().upstreamUrl).isEqualTo("wss://up.example.com");
        assertThat(waiting.getStatus().downstreamUrl).isEqualTo("wss://down.example.net");
        assertThat(waiting.getStatus().tokenId).isEqualTo(secrets.get(KEY_TOKEN_ID));
        assertThat(condition(waiting, "SecretsReady")).map(Condition::getStatus).contains("True");
        assertThat(condition(waiting, "IngressReady")).map(Condition::getReason).contains("IngressCreated");

        // Not ready, so the reconciler looks again every 2 s (test setting); with nothing changed it patches nothing.
        String version = waiting.getMetadata().getResourceVersion();
        await().during(Duration.ofSeconds(5))
                .atMost(Duration.ofSeconds(8))
                .until(() -> version.equals(client.resources(Tunnel.class)
                        .inNamespace(ns)
                        .withName("t1")
                        .get()
                        .getMetadata()
                        .getResourceVersion()));

        markReady(ns, "t1-exit", 1);
        markReady(ns, "t1-entry", 1);
        Tunnel ready = awaitCondition(ns, "t1", "Ready", "True", "AllReady");
        assertThat(condition(ready, "ExitReady"))
                .map(Condition::getMessage)
                .contains("1/1 replicas of Deployment t1-exit ready");
    }

    @Test
    void specChangeUpdatesDependentsInPlace() {
        String ns = "update";
        Tunnel t2 = Tunnels.split("t2", ns);
        t2.getSpec().entry.forwards = List.of("0.0.0.0:5432=db.prod.svc:5432");
        client.resource(t2).create();
        awaitResource(Service.class, ns, "t2-entry");
        Deployment before = awaitResource(Deployment.class, ns, "t2-exit");
        awaitResource(Ingress.class, ns, "t2-downstream");
        awaitResource(Deployment.class, ns, "t2-entry");
        String tokenBefore = Credentials.value(awaitResource(Secret.class, ns, "t2-credentials"), KEY_TOKEN);

        client.resources(Tunnel.class).inNamespace(ns).withName("t2").edit(t -> {
            t.getSpec().exit.replicas = 3;
            t.getSpec().registry = new RegistrySpec();
            t.getSpec().registry.secretName = "exit-db";
            t.getSpec().allow = List.of("10.0.0.0/8:*");
            t.getSpec().domains.downstream = null;
            t.getSpec().ingress.tls.downstreamSecretName = null;
            t.getSpec().entry.sidecarOnly = true;
            return t;
        });

        await().atMost(WAIT).untilAsserted(() -> {
            Deployment after = client.apps()
                    .deployments()
                    .inNamespace(ns)
                    .withName("t2-exit")
                    .get();
            assertThat(after.getMetadata().getUid())
                    .isEqualTo(before.getMetadata().getUid());
            assertThat(after.getSpec().getReplicas()).isEqualTo(3);
            assertThat(env(
                            after.getSpec()
                                    .getTemplate()
                                    .getSpec()
                                    .getContainers()
                                    .get(0)
                                    .getEnv(),
                            "SPLITSTREAM_EXIT_ALLOW"))
                    .isEqualTo("db.prod.svc:5432,10.0.0.0/8:*");
            assertThat(client.network()
                            .v1()
                            .ingresses()
                            .inNamespace(ns)
                            .withName("t2-downstream")
                            .get())
                    .isNull();
            assertThat(client.apps()
                            .deployments()
                            .inNamespace(ns)
                            .withName("t2-entry")
                            .get())
                    .isNull();
            Secret entryConfig =
                    client.secrets().inNamespace(ns).withName("t2-entry").get();
            assertThat(Credentials.decode(entryConfig))
                    .containsEntry("SPLITSTREAM_ENTRY_SERVER", "wss://up.example.com");
        });
        assertThat(Credentials.value(
                        client.secrets()
                                .inNamespace(ns)
                                .withName("t2-credentials")
                                .get(),
                        KEY_TOKEN))
                .as("a spec change never regenerates the token")
                .isEqualTo(tokenBefore);
        Tunnel tunnel = awaitCondition(ns, "t2", "EntryReady", "True", "SidecarOnly");
        assertThat(tunnel.getStatus().observedGeneration)
                .isEqualTo(tunnel.getMetadata().getGeneration());
    }

    @Test
    void rotationAddsANewTokenKeepsTheOldOneForTheGracePeriodThenDropsIt() {
        String ns = "rotate";
        Tunnel t3 = Tunnels.forward("t3", ns);
        t3.getSpec().token.rotationGraceSeconds = 4;
        client.resource(t3).create();
        Secret before = awaitResource(Secret.class, ns, "t3-credentials");
        Deployment exitBefore = awaitResource(Deployment.class, ns, "t3-exit");
        Deployment entryBefore = awaitResource(Deployment.class, ns, "t3-entry");
        String oldId = Credentials.value(before, KEY_TOKEN_ID);
        String oldToken = Credentials.value(before, KEY_TOKEN);

        client.resources(Tunnel.class).inNamespace(ns).withName("t3").edit(t -> {
            t.getMetadata().getAnnotations().put(ANNOTATION_ROTATE_TOKEN, "2026-11-22");
            return t;
        });

        await().atMost(WAIT).untilAsserted(() -> {
            Secret rotated =
                    client.secrets().inNamespace(ns).withName("t3-credentials").get();
            Map<String, String> values = Credentials.decode(rotated);
            assertThat(values.get(KEY_TOKEN_ID)).isNotEqualTo(oldId);
            assertThat(Credentials.acceptedTokens(values.get(KEY_TOKENS_FILE)))
                    .containsExactly(
                            Map.entry(values.get(KEY_TOKEN_ID), values.get(KEY_TOKEN)), Map.entry(oldId, oldToken));
            assertThat(rotated.getMetadata().getAnnotations()).containsEntry(ANNOTATION_RETIRING_TOKEN_ID, oldId);
            Secret entryConfig =
                    client.secrets().inNamespace(ns).withName("t3-entry").get();
            assertThat(Credentials.decode(entryConfig))
                    .containsEntry("SPLITSTREAM_TOKEN_ID", values.get(KEY_TOKEN_ID))
                    .containsEntry(
                            "SPLITSTREAM_TOKEN_FILE", TOKEN_MOUNT_PATH + "/" + tokenKey(values.get(KEY_TOKEN_ID)));
            assertThat(values)
                    .as("sidecars started with the previous id keep reading its file through the grace period")
                    .containsEntry(tokenKey(oldId), oldToken);
            Deployment entry = client.apps()
                    .deployments()
                    .inNamespace(ns)
                    .withName("t3-entry")
                    .get();
            assertThat(entry.getSpec()
                            .getTemplate()
                            .getMetadata()
                            .getAnnotations()
                            .get(ANNOTATION_CONFIG_DIGEST))
                    .as("entry pods roll to the new token")
                    .isNotEqualTo(entryBefore
                            .getSpec()
                            .getTemplate()
                            .getMetadata()
                            .getAnnotations()
                            .get(ANNOTATION_CONFIG_DIGEST));
        });
        assertThat(client.apps()
                        .deployments()
                        .inNamespace(ns)
                        .withName("t3-exit")
                        .get()
                        .getSpec()
                        .getTemplate())
                .as("the exit pods are not restarted: they re-read the mounted tokens file")
                .isEqualTo(exitBefore.getSpec().getTemplate());
        assertThat(awaitStatus(ns, "t3", t -> oldId.equals(t.getStatus().retiringTokenId))
                        .getStatus()
                        .tokenId)
                .isNotEqualTo(oldId);

        await().atMost(WAIT).untilAsserted(() -> {
            Secret retired =
                    client.secrets().inNamespace(ns).withName("t3-credentials").get();
            assertThat(Credentials.acceptedTokens(Credentials.value(retired, KEY_TOKENS_FILE)))
                    .containsOnlyKeys(Credentials.value(retired, KEY_TOKEN_ID));
            assertThat(retired.getMetadata().getAnnotations()).doesNotContainKey(ANNOTATION_RETIRING_TOKEN_ID);
        });
        awaitStatus(ns, "t3", t -> t.getStatus().retiringTokenId == null);
    }

    @Test
    void deletingTheTunnelLeavesNothingOwnedBehind() {
        String ns = "delete";
        Tunnel tunnel = client.resource(Tunnels.split("t4", ns)).create();
        awaitResource(Deployment.class, ns, "t4-entry");
        awaitResource(Ingress.class, ns, "t4-downstream");

        // The mock server has no garbage collector: what proves the cleanup is that every resource labelled for
        // this tunnel is controlled by it, so the API server's GC deletes it with the Tunnel.
        List<HasMetadata> owned = new java.util.ArrayList<>();
        owned.addAll(client.secrets()
                .inNamespace(ns)
                .withLabel(LABEL_INSTANCE, "t4")
                .list()
                .getItems());
        owned.addAll(client.apps()
                .deployments()
                .inNamespace(ns)
                .withLabel(LABEL_INSTANCE, "t4")
                .list()
                .getItems());
        owned.addAll(client.services()
                .inNamespace(ns)
                .withLabel(LABEL_INSTANCE, "t4")
                .list()
                .getItems());
        owned.addAll(client.network()
                .v1()
                .ingresses()
                .inNamespace(ns)
                .withLabel(LABEL_INSTANCE, "t4")
                .list()
                .getItems());
        assertThat(owned).hasSize(7);
        assertThat(owned).allSatisfy(r -> assertThat(r.getMetadata().getOwnerReferences())
                .singleElement()
                .satisfies(ref -> assertOwnedBy(ref, tunnel)));

        assertThat(client.resource(tunnel).delete()).isNotEmpty();
        await().atMost(WAIT)
                .until(() -> client.resources(Tunnel.class)
                                .inNamespace(ns)
                                .withName("t4")
                                .get()
                        == null);
    }

    @Test
    void invalidSpecGetsAConditionAndAnEventAndChangesNothing() {
        String ns = "invalid";
        Tunnel tunnel = Tunnels.forward("t5", ns);
        tunnel.getSpec().domains.downstream = "Down_Stream.example.com";
        client.resource(tunnel).create();

        Tunnel invalid = awaitCondition(ns, "t5", "Ready", "False", "InvalidSpec");
        assertThat(condition(invalid, "Ready").orElseThrow().getMessage())
                .contains("spec.domains.downstream 'Down_Stream.example.com' is not a valid host name")
                .contains("spec.domains.downstream is set but spec.domains.upstream is not");
        await().atMost(WAIT).untilAsserted(() -> assertThat(
                        client.v1().events().inNamespace(ns).list().getItems())
                .anySatisfy(e -> {
                    assertThat(e.getReason()).isEqualTo("InvalidSpec");
                    assertThat(e.getType()).isEqualTo("Warning");
                    assertThat(e.getInvolvedObject().getName()).isEqualTo("t5");
                }));
        assertThat(client.apps()
                        .deployments()
                        .inNamespace(ns)
                        .withName("t5-exit")
                        .get())
                .isNull();

        client.resources(Tunnel.class).inNamespace(ns).withName("t5").edit(t -> {
            t.getSpec().domains.upstream = "up.example.com";
            t.getSpec().domains.downstream = "down.example.com";
            return t;
        });
        awaitResource(Ingress.class, ns, "t5-downstream");
        awaitCondition(ns, "t5", "Ready", "False", "ExitNotReady");
    }

    @Test
    void unknownFieldsAndValuesAreReported() {
        String ns = "unknown";
        GenericKubernetesResource raw = Serialization.unmarshal(
                """
                apiVersion: splitstream.dev/v1alpha1
                kind: Tunnel
                metadata:
                  name: t6
                  namespace: unknown
                spec:
                  mode: sideways
                  targets: ["db:5432"]
                  exit:
                    replica: 2
                """,
                GenericKubernetesResource.class);
        client.genericKubernetesResources("splitstream.dev/v1alpha1", "Tunnel")
                .inNamespace(ns)
                .resource(raw)
                .create();
        Tunnel invalid = awaitCondition(ns, "t6", "Ready", "False", "InvalidSpec");
        assertThat(condition(invalid, "Ready").orElseThrow().getMessage())
                .contains("unknown field spec.exit.replica")
                .contains("spec.mode 'sideways' is not one of [expose, forward]");
    }

    @Test
    void existingSecretIsUsedAndItsAbsenceReported() {
        String ns = "existing";
        Tunnel tunnel = Tunnels.forward("t7", ns);
        tunnel.getSpec().token.existingSecret = "my-token";
        client.resource(tunnel).create();
        awaitCondition(ns, "t7", "SecretsReady", "False", "ExistingSecretNotFound");
        Deployment exit = awaitResource(Deployment.class, ns, "t7-exit");
        var env = exit.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv();
        assertThat(env(env, "SPLITSTREAM_TOKEN_FILE")).isEqualTo(TOKEN_MOUNT_PATH + "/token");
        assertThat(exit.getSpec().getTemplate().getSpec().getVolumes())
                .filteredOn(v -> v.getName().equals("token"))
                .singleElement()
                .satisfies(v -> assertThat(v.getSecret().getSecretName()).isEqualTo("my-token"));

        client.resource(new SecretBuilder()
                        .withNewMetadata()
                        .withName("my-token")
                        .withNamespace(ns)
                        .endMetadata()
                        .withData(Credentials.encode(Map.of("token", "s3cret")))
                        .build())
                .create();
        awaitCondition(ns, "t7", "SecretsReady", "True", "ExistingSecretFound");
    }

    @Test
    void exposeTunnelGetsItsPortsServiceRoutesIngressAndGeneratedTokensAndLosesWhatItStopsUsing() {
        String ns = "expose";
        Tunnel t8 = Tunnels.expose(Tunnels.forward("t8", ns));
        t8.getSpec().expose.hub = true;
        t8.getSpec().expose.agent = "shop";
        client.resource(t8).create();

        Service ports = awaitResource(Service.class, ns, "t8-exit-ports");
        assertThat(ports.getSpec().getPorts()).hasSize(10);
        assertThat(ports.getSpec().getType()).isEqualTo("LoadBalancer");
        Ingress routes = awaitResource(Ingress.class, ns, "t8-routes");
        assertThat(routes.getSpec().getRules().get(0).getHost()).isEqualTo("*.apps.example.com");
        String routeToken = Credentials.value(awaitResource(Secret.class, ns, "t8-route-token"), "token");
        Secret hub = awaitResource(Secret.class, ns, "t8-hub-token");
        assertThat(Credentials.value(hub, "token")).hasSizeGreaterThanOrEqualTo(43);
        await().atMost(WAIT).untilAsserted(() -> assertThat(Credentials.decode(
                        client.secrets().inNamespace(ns).withName("t8-entry").get()))
                .containsEntry("SPLITSTREAM_ENTRY_EXPOSE", "ssh=ssh.shop.svc:22,web=http://web.shop.svc:8080")
                .containsEntry("SPLITSTREAM_ENTRY_AGENT", "shop")
                .containsEntry("SPLITSTREAM_ENTRY_ROUTE_TOKEN", routeToken));
        var exitEnv = awaitResource(Deployment.class, ns, "t8-exit")
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getEnv();
        assertThat(env(exitEnv, "SPLITSTREAM_EXIT_PUBLIC_PORTS")).isEqualTo("10000-10009");
        assertThat(env(exitEnv, "SPLITSTREAM_EXIT_HTTP_DOMAIN")).isEqualTo("apps.example.com");
        assertThat(exitEnv).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("SPLITSTREAM_EXIT_HUB_TOKEN");
            assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("t8-hub-token");
        });
        awaitCondition(ns, "t8", "IngressReady", "True", "IngressCreated");
        client.services().inNamespace(ns).withName("t8-exit-ports").editStatus(svc -> {
            svc.setStatus(new ServiceStatusBuilder()
                    .withNewLoadBalancer()
                    .addNewIngress()
                    .withIp("203.0.113.7")
                    .endIngress()
                    .endLoadBalancer()
                    .build());
            return svc;
        });
        Tunnel exposed = awaitStatus(ns, "t8", t -> "203.0.113.7".equals(t.getStatus().publicAddress));
        assertThat(exposed.getStatus().publicPorts).isEqualTo("10000-10009");

        client.resources(Tunnel.class).inNamespace(ns).withName("t8").edit(t -> {
            t.getSpec().expose.services = List.of("web=http://web.shop.svc:8080");
            t.getSpec().expose.publicPorts = null;
            t.getSpec().expose.httpDomain = null;
            t.getSpec().expose.hub = false;
            return t;
        });
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(client.services()
                            .inNamespace(ns)
                            .withName("t8-exit-ports")
                            .get())
                    .isNull();
            assertThat(client.network()
                            .v1()
                            .ingresses()
                            .inNamespace(ns)
                            .withName("t8-routes")
                            .get())
                    .isNull();
            assertThat(client.secrets().inNamespace(ns).withName("t8-hub-token").get())
                    .as("a secret nothing reads any more is deleted")
                    .isNull();
        });
        awaitStatus(ns, "t8", t -> t.getStatus().publicPorts == null && t.getStatus().publicAddress == null);
        assertThat(Credentials.value(
                        client.secrets()
                                .inNamespace(ns)
                                .withName("t8-route-token")
                                .get(),
                        "token"))
                .as("a generated route token is never regenerated while in use")
                .isEqualTo(routeToken);
    }

    @Test
    void replicasNeedARegistryWhoseSecretIsCheckedAndReported() {
        String ns = "registry";
        // A credentials Secret as an older operator made it: an HMAC key, no per-id token files.
        Tunnel t9 = Tunnels.forward("t9", ns);
        Secret old = Credentials.generate(t9);
        Map<String, String> oldValues = Credentials.decode(old);
        oldValues.keySet().removeIf(k -> k.startsWith(KEY_TOKEN_BY_ID_PREFIX));
        oldValues.put("hmac-key", "stale");
        old.setData(Credentials.encode(oldValues));
        client.resource(old).create();

        t9.getSpec().exit.replicas = 3;
        client.resource(t9).create();
        Tunnel invalid = awaitCondition(ns, "t9", "Ready", "False", "InvalidSpec");
        assertThat(condition(invalid, "Ready").orElseThrow().getMessage())
                .contains("spec.exit.replicas is 3 but spec.registry is not set");

        client.resources(Tunnel.class).inNamespace(ns).withName("t9").edit(t -> {
            t.getSpec().registry = new RegistrySpec();
            t.getSpec().registry.secretName = "exit-db";
            return t;
        });
        Tunnel pending = awaitCondition(ns, "t9", "SecretsReady", "False", "SecretNotFound");
        assertThat(condition(pending, "SecretsReady").orElseThrow().getMessage())
                .contains("Secret exit-db (spec.registry.secretName) not found in namespace registry")
                .contains("jdbc-url, username, password");
        assertThat(pending.getStatus().registry).isEqualTo("postgres");
        Service peers = awaitResource(Service.class, ns, "t9-exit-peers");
        assertThat(peers.getSpec().getClusterIP()).isEqualTo("None");
        Secret cluster = awaitResource(Secret.class, ns, "t9-cluster-secret");
        var exitEnv = awaitResource(Deployment.class, ns, "t9-exit")
                .getSpec()
                .getTemplate()
                .getSpec()
                .getContainers()
                .get(0)
                .getEnv();
        assertThat(env(exitEnv, "SPLITSTREAM_EXIT_REGISTRY")).isEqualTo("postgres");
        assertThat(env(exitEnv, "SPLITSTREAM_EXIT_REPLICA_URL")).isEqualTo("http://$(POD_IP):8080");
        assertThat(exitEnv).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("SPLITSTREAM_EXIT_CLUSTER_SECRET");
            assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("t9-cluster-secret");
        });
        await().atMost(WAIT).untilAsserted(() -> assertThat(Credentials.decode(client.secrets()
                        .inNamespace(ns)
                        .withName("t9-credentials")
                        .get()))
                .as("the old Secret gets the file its entries now read and keeps the rest")
                .containsEntry(tokenKey(oldValues.get(KEY_TOKEN_ID)), oldValues.get(KEY_TOKEN))
                .containsEntry("hmac-key", "stale"));

        client.resource(new SecretBuilder()
                        .withNewMetadata()
                        .withName("exit-db")
                        .withNamespace(ns)
                        .endMetadata()
                        .withData(
                                Credentials.encode(Map.of("jdbc-url", "jdbc:postgresql://pg:5432/t", "username", "t")))
                        .build())
                .create();
        Tunnel keyMissing = awaitCondition(ns, "t9", "SecretsReady", "False", "SecretKeyMissing");
        assertThat(condition(keyMissing, "SecretsReady").orElseThrow().getMessage())
                .contains("has no key password");
        client.secrets().inNamespace(ns).withName("exit-db").edit(sec -> {
            sec.setData(Credentials.encode(
                    Map.of("jdbc-url", "jdbc:postgresql://pg:5432/t", "username", "t", "password", "p")));
            return sec;
        });
        awaitCondition(ns, "t9", "SecretsReady", "True", "SecretsCreated");
        assertThat(Credentials.value(
                        client.secrets()
                                .inNamespace(ns)
                                .withName("t9-cluster-secret")
                                .get(),
                        "token"))
                .isEqualTo(Credentials.value(cluster, "token"));
    }

    private <T extends HasMetadata> T awaitResource(Class<T> type, String ns, String name) {
        return await().atMost(WAIT)
                .until(
                        () -> client.resources(type)
                                .inNamespace(ns)
                                .withName(name)
                                .get(),
                        r -> r != null);
    }

    private Tunnel awaitCondition(String ns, String name, String type, String status, String reason) {
        return awaitStatus(ns, name, t -> condition(t, type)
                .filter(c -> status.equals(c.getStatus()) && reason.equals(c.getReason()))
                .isPresent());
    }

    private Tunnel awaitStatus(String ns, String name, java.util.function.Predicate<Tunnel> predicate) {
        return await().atMost(WAIT)
                .until(
                        () -> client.resources(Tunnel.class)
                                .inNamespace(ns)
                                .withName(name)
                                .get(),
                        t -> t != null && t.getStatus() != null && predicate.test(t));
    }

    private void markReady(String ns, String name, int replicas) {
        client.apps().deployments().inNamespace(ns).withName(name).editStatus(d -> {
            d.setStatus(new DeploymentStatusBuilder()
                    .withReplicas(replicas)
                    .withReadyReplicas(replicas)
                    .withAvailableReplicas(replicas)
                    .build());
            return d;
        });
    }

    private static Optional<Condition> condition(Tunnel tunnel, String type) {
        return tunnel.getStatus().conditions.stream()
                .filter(c -> type.equals(c.getType()))
                .findFirst();
    }

    private static String env(List<EnvVar> env, String name) {
        return env.stream()
                .filter(e -> name.equals(e.getName()))
                .map(EnvVar::getValue)
                .findFirst()
                .orElse(null);
    }

    private static void assertOwnedBy(OwnerReference ref, Tunnel tunnel) {
        assertThat(ref.getKind()).isEqualTo("Tunnel");
        assertThat(ref.getApiVersion()).isEqualTo("splitstream.dev/v1alpha1");
        assertThat(ref.getName()).isEqualTo(tunnel.getMetadata().getName());
        assertThat(ref.getUid()).isEqualTo(tunnel.getMetadata().getUid());
        assertThat(ref.getController()).isTrue();
    }
}
