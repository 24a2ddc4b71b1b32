package dev.splitstream.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

class SpecValidatorTest {
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
}
