package dev.splitstream.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class SpecValidatorTest {
    @Test
    void aPlainForwardTunnelIsValid() {
        assertThat(SpecValidator.validate(Tunnels.forward("db", "prod"))).isEmpty();
        assertThat(SpecValidator.validate(Tunnels.split("db", "prod"))).isEmpty();
    }

    @Test
    void unknownFieldsAreReportedWithTheirPath() {
        Tunnel tunnel = Serialization.unmarshal(
                """
                apiVersion: splitstream.dev/v1alpha1
                kind: Tunnel
                metadata: {name: t, namespace: n}
                spec:
                  targets: ["db:5432"]
                  target: ["db:5432"]
                  exit: {replica: 2}
                """,
                Tunnel.class);
        assertThat(SpecValidator.validate(tunnel))
                .anySatisfy(p -> assertThat(p).startsWith("unknown field spec.target:"))
                .anySatisfy(p -> assertThat(p).startsWith("unknown field spec.exit.replica:"));
    }

    @Test
    void unknownFieldsSurviveAJsonRoundTrip() {
        Tunnel tunnel = Serialization.unmarshal(
                "{\"apiVersion\":\"splitstream.dev/v1alpha1\",\"kind\":\"Tunnel\",\"metadata\":{\"name\":\"t\"},"
                        + "\"spec\":{\"targets\":[\"db:5432\"],\"domains\":{\"upstrem\":\"a.example.com\"}}}",
                Tunnel.class);
        Tunnel clone = Serialization.unmarshal(Serialization.asJson(tunnel), Tunnel.class);
        assertThat(SpecValidator.validate(clone)).singleElement().satisfies(p -> assertThat(p)
                .startsWith("unknown field spec.domains.upstrem:"));
    }

    @Test
    void badHostNamesSayWhatAHostNameIs() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().domains.upstream = "https://up.example.com/";
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .contains("spec.domains.upstream 'https://up.example.com/' is not a valid host name")
                .contains("no scheme, port or path"));
    }

    @Test
    void splitWithOnlyTheDownstreamDomainIsRefused() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().domains.downstream = "down.example.com";
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .contains("spec.domains.downstream is set but spec.domains.upstream is not"));
    }

    @Test
    void unknownValuesListTheAllowedOnes() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().transport = "carrier-pigeon";
        tunnel.getSpec().compression = "max";
        tunnel.getSpec().exit.serviceType = "ExternalName";
        assertThat(SpecValidator.validate(tunnel))
                .containsExactlyInAnyOrder(
                        "spec.transport 'carrier-pigeon' is not one of [auto, http, websocket]",
                        "spec.compression 'max' is not one of [auto, off]",
                        "spec.exit.serviceType 'ExternalName' is not one of [ClusterIP, LoadBalancer, NodePort]");
    }

    @Test
    void targetsForwardsAndAllowEntriesAreChecked() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().targets = List.of("db.prod.svc", "db:99999");
        tunnel.getSpec().allow = List.of("10.0.0.0/8:*", "internal.svc:*", "nope");
        tunnel.getSpec().entry.forwards = List.of("0.0.0.0:5432=db:5432", "5432:db:5432");
        assertThat(SpecValidator.validate(tunnel))
                .hasSize(4)
                .anySatisfy(p -> assertThat(p).startsWith("spec.targets[0] 'db.prod.svc' is not host:port"))
                .anySatisfy(p -> assertThat(p).startsWith("spec.targets[1] 'db:99999'"))
                .anySatisfy(p -> assertThat(p).startsWith("spec.allow[2] 'nope'"))
                .anySatisfy(p -> assertThat(p).startsWith("spec.entry.forwards[1] '5432:db:5432'"));
    }

    @Test
    void anExposeTunnelIsValidAndItsMistakesAreNamed() {
        Tunnel tunnel = Tunnels.expose(Tunnels.forward("shop", "prod"));
        assertThat(SpecValidator.validate(tunnel)).isEmpty();

        tunnel.getSpec().targets = List.of("web.shop.svc:8080");
        tunnel.getSpec().expose.services = List.of(
                "ssh=ssh.shop.svc:22",
                "ssh=ssh2.shop.svc:22",
                "db:20000=db.shop.svc:5432",
                "web.shop.svc:8080",
                "web=http://web.shop.svc:8080");
        tunnel.getSpec().expose.httpDomain = "*.apps.example.com";
        tunnel.getSpec().expose.httpHosts = "([a-z";
        tunnel.getSpec().expose.lease = "ten minutes";
        assertThat(SpecValidator.validate(tunnel))
                .anySatisfy(p -> assertThat(p)
                        .startsWith("spec.targets is for forward mode")
                        .contains("web=http://web.shop.svc:8080"))
                .anySatisfy(p -> assertThat(p).contains("the name 'ssh' is used twice"))
                .anySatisfy(p -> assertThat(p)
                        .contains("asks for public port 20000, outside spec.expose.publicPorts 10000-10009"))
                .anySatisfy(p -> assertThat(p).startsWith("spec.expose.services[3] 'web.shop.svc:8080' is not name="))
                .anySatisfy(p -> assertThat(p).startsWith("spec.expose.httpDomain '*.apps.example.com'"))
                .anySatisfy(p -> assertThat(p).startsWith("spec.expose.httpHosts is not a valid regular expression"))
                .anySatisfy(p -> assertThat(p).startsWith("spec.expose.lease 'ten minutes'"))
                .hasSize(7);
    }

    @Test
    void exposeNeedsServicesPortsForTcpAndSomeWayToHttp() {
        Tunnel tunnel = Tunnels.expose(Tunnels.forward("shop", "prod"));
        tunnel.getSpec().expose.publicPorts = null;
        tunnel.getSpec().expose.httpDomain = null;
        tunnel.getSpec().expose.routeToken = false;
        assertThat(SpecValidator.validate(tunnel))
                .containsExactly(
                        "spec.expose.services[0] 'ssh=ssh.shop.svc:22' is a TCP service but spec.expose.publicPorts "
                                + "is not set: set spec.expose.publicPorts.first (and count) for the exit's public "
                                + "ports",
                        "spec.expose.services has HTTP services but nothing reaches them: set "
                                + "spec.expose.httpDomain, spec.expose.routeToken: true or spec.expose.hub: true");

        tunnel.getSpec().expose.services = List.of();
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .startsWith("spec.expose.services is empty"));

        Tunnel forward = Tunnels.expose(Tunnels.forward("shop", "prod"));
        forward.getSpec().mode = "forward";
        assertThat(SpecValidator.validate(forward)).singleElement().satisfies(p -> assertThat(p)
                .startsWith("spec.expose is set but spec.mode is 'forward'"));
    }

    @Test
    void thePublicPortRangeIsCappedAndMustHoldTheTcpServices() {
        Tunnel tunnel = Tunnels.expose(Tunnels.forward("shop", "prod"));
        tunnel.getSpec().expose.publicPorts.count = 101;
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .startsWith("spec.expose.publicPorts.count is 101: use 1 to 100"));
        tunnel.getSpec().expose.publicPorts.count = 1;
        tunnel.getSpec().expose.services = List.of("a=a.svc:1", "b=b.svc:2");
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .isEqualTo("spec.expose.services has 2 TCP services but spec.expose.publicPorts has 1 ports: "
                        + "raise count"));
        tunnel.getSpec().expose.publicPorts.first = 65535;
        tunnel.getSpec().expose.publicPorts.count = 2;
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .contains("ends beyond 65535"));
    }

    @Test
    void replicasNeedARegistryAndReferencesNeedSecretNames() {
        Tunnel tunnel = Tunnels.forward("db", "prod");
        tunnel.getSpec().exit.replicas = 2;
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .startsWith("spec.exit.replicas is 2 but spec.registry is not set: replicas share sessions")
                .contains("or use spec.exit.replicas: 1"));

        tunnel.getSpec().registry = new dev.splitstream.operator.crd.v1alpha1.RegistrySpec();
        tunnel.getSpec().exit.dashboard = new dev.splitstream.operator.crd.v1alpha1.DashboardSpec();
        tunnel.getSpec().exit.dashboard.secretName = "Not_A_Name";
        tunnel.getSpec().encryption = "maybe";
        assertThat(SpecValidator.validate(tunnel))
                .containsExactlyInAnyOrder(
                        "spec.encryption 'maybe' is not one of [off, on]",
                        "spec.registry.secretName is not set: name a Secret in the Tunnel's namespace",
                        "spec.exit.dashboard.secretName 'Not_A_Name' is not a valid Secret name");
        tunnel.getSpec().registry.secretName = "exit-db";
        tunnel.getSpec().exit.dashboard.secretName = "ops";
        tunnel.getSpec().encryption = "off";
        assertThat(SpecValidator.validate(tunnel)).isEmpty();
    }

    @Test
    void tooLongNamesAreRefused() {
        Tunnel tunnel = Tunnels.forward("a".repeat(53), "prod");
        assertThat(SpecValidator.validate(tunnel)).singleElement().satisfies(p -> assertThat(p)
                .contains("longer than 52 characters"));
    }

    @Test
    void theExamplesAreValid() throws IOException {
        Path examples = Path.of("..", "deploy", "examples");
        try (Stream<Path> files = Files.list(examples)) {
            List<Path> tunnels = files.filter(p -> p.toString().endsWith(".yaml"))
                    .filter(p -> !p.getFileName().toString().equals("kustomization.yaml"))
                    .toList();
            assertThat(tunnels).hasSizeGreaterThanOrEqualTo(3);
            int found = 0;
            for (Path file : tunnels) {
                for (String document : Files.readString(file).split("(?m)^---$")) {
                    if (!document.contains("kind: Tunnel")) {
                        continue;
                    }
                    Tunnel tunnel = Serialization.unmarshal(document, Tunnel.class);
                    tunnel.getMetadata().setNamespace("default");
                    assertThat(SpecValidator.validate(tunnel))
                            .as(file.toString())
                            .isEmpty();
                    found++;
                }
            }
            assertThat(found).isEqualTo(tunnels.size());
        }
    }

    @Test
    void explicitNullsGetTheSchemaDefaultsAndBuildersDoNotFail() {
        Tunnel tunnel = Serialization.unmarshal(
                """
                apiVersion: splitstream.dev/v1alpha1
                kind: Tunnel
                metadata: {name: t, namespace: n, uid: u}
                spec:
                  mode: null
                  targets: null
                  allow: ["db:5432"]
                  exit: {replicas: null}
                  entry: null
                  domains: {upstream: up.example.com}
                  ingress: {tls: null, annotations: null}
                  token: {rotationGraceSeconds: null}
                """,
                Tunnel.class);
        SpecDefaults.apply(tunnel);
        assertThat(SpecValidator.validate(tunnel)).isEmpty();
        assertThat(tunnel.getSpec().mode).isEqualTo("forward");
        assertThat(tunnel.getSpec().exit.replicas).isEqualTo(1);
        assertThat(tunnel.getSpec().token.rotationGraceSeconds).isEqualTo(900);
        assertThat(ExitModel.deployment(tunnel, OperatorDefaults.BUILT_IN)).isNotNull();
        assertThat(EntryModel.deployment(tunnel, OperatorDefaults.BUILT_IN, "d"))
                .isNotNull();
        assertThat(IngressModel.upstream(tunnel).getSpec().getTls()).isEmpty();
        assertThat(EntryModel.configSecret(tunnel, java.util.Optional.empty(), java.util.Optional.empty()))
                .isNotNull();
    }
}
