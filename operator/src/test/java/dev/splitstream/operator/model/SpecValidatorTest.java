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
            for (Path file : tunnels) {
                Tunnel tunnel = Serialization.unmarshal(Files.readString(file), Tunnel.class);
                tunnel.getMetadata().setNamespace("default");
                assertThat(SpecValidator.validate(tunnel)).as(file.toString()).isEmpty();
            }
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
        assertThat(EntryModel.configSecret(tunnel, java.util.Optional.empty())).isNotNull();
    }
}
