package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.Secret;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CredentialsTest {
    private final Tunnel tunnel = Tunnels.forward("db", "prod");

    @Test
    void generatedSecretHoldsTokenIdTokensFileAndTheTokenFileOfItsId() {
        Secret secret = Credentials.generate(tunnel);
        Map<String, String> values = Credentials.decode(secret);
        assertThat(secret.getMetadata().getName()).isEqualTo("db-credentials");
        assertThat(secret.getMetadata().getLabels()).containsEntry(LABEL_COMPONENT, COMPONENT_CREDENTIALS);
        assertThat(secret.getMetadata().getOwnerReferences()).hasSize(1);
        assertThat(values.get(KEY_TOKEN)).hasSizeGreaterThanOrEqualTo(43);
        assertThat(values)
                .as("no HMAC key: frame keys derive from the handshake")
                .doesNotContainKey("hmac-key")
                .containsEntry("token." + values.get(KEY_TOKEN_ID), values.get(KEY_TOKEN))
                .hasSize(4);
        assertThat(Credentials.acceptedTokens(values.get(KEY_TOKENS_FILE)))
                .containsExactly(Map.entry(values.get(KEY_TOKEN_ID), values.get(KEY_TOKEN)));
        assertThat(Credentials.decode(Credentials.generate(tunnel)).get(KEY_TOKEN))
                .isNotEqualTo(values.get(KEY_TOKEN));
    }

    @Test
    void rotationIsRequestedOnlyByANewAnnotationValue() {
        Secret secret = Credentials.generate(tunnel);
        assertThat(Credentials.rotationRequested(tunnel, secret)).isFalse();
        annotate("1");
        assertThat(Credentials.rotationRequested(tunnel, secret)).isTrue();
        Secret rotated = Credentials.rotate(secret, tunnel, Instant.now(), Duration.ofMinutes(5));
        assertThat(Credentials.rotationRequested(tunnel, rotated)).isFalse();

        annotate("2");
        Secret created = Credentials.generate(tunnel);
        assertThat(Credentials.rotationRequested(tunnel, created))
                .as("a Secret created after the annotation answers it")
                .isFalse();
    }

    @Test
    void rotationKeepsThePreviousTokenUntilTheGracePeriodEnds() {
        Secret secret = Credentials.generate(tunnel);
        Map<String, String> old = Credentials.decode(secret);
        annotate("now");
        Instant now = Instant.parse("2026-11-22T00:00:00Z");

        Secret rotated = Credentials.rotate(secret, tunnel, now, Duration.ofMinutes(15));
        Map<String, String> fresh = Credentials.decode(rotated);
        assertThat(fresh.get(KEY_TOKEN_ID)).isNotEqualTo(old.get(KEY_TOKEN_ID));
        assertThat(fresh.get(KEY_TOKEN)).isNotEqualTo(old.get(KEY_TOKEN));
        assertThat(fresh)
                .as("an entry started with the previous id keeps reading its file through the grace period")
                .containsEntry("token." + old.get(KEY_TOKEN_ID), old.get(KEY_TOKEN))
                .containsEntry("token." + fresh.get(KEY_TOKEN_ID), fresh.get(KEY_TOKEN));
        assertThat(Credentials.acceptedTokens(fresh.get(KEY_TOKENS_FILE)))
                .containsExactly(
                        Map.entry(fresh.get(KEY_TOKEN_ID), fresh.get(KEY_TOKEN)),
                        Map.entry(old.get(KEY_TOKEN_ID), old.get(KEY_TOKEN)));
        assertThat(Credentials.retiringExpiry(rotated)).contains(Instant.parse("2026-11-22T00:15:00Z"));
        assertThat(rotated.getMetadata().getAnnotations())
                .containsEntry(ANNOTATION_RETIRING_TOKEN_ID, old.get(KEY_TOKEN_ID));

        Secret retired = Credentials.retire(rotated);
        assertThat(Credentials.value(retired, KEY_TOKENS_FILE))
                .contains(fresh.get(KEY_TOKEN_ID))
                .doesNotContain(old.get(KEY_TOKEN_ID));
        assertThat(Credentials.retiringExpiry(retired)).isEmpty();
        assertThat(Credentials.decode(retired))
                .doesNotContainKey("token." + old.get(KEY_TOKEN_ID))
                .containsKey("token." + fresh.get(KEY_TOKEN_ID));
    }

    @Test
    void aSecretFromAnOlderOperatorGetsItsTokenFilesAndKeepsItsStaleHmacKey() {
        Secret old = Credentials.generate(tunnel);
        Map<String, String> values = Credentials.decode(old);
        values.keySet().removeIf(k -> k.startsWith("token."));
        values.put("hmac-key", "stale-but-harmless");
        old.setData(Credentials.encode(values));
        assertThat(Credentials.needsTokenKeys(old)).isTrue();

        Secret upgraded = Credentials.withTokenKeys(old);
        assertThat(Credentials.needsTokenKeys(upgraded)).isFalse();
        assertThat(Credentials.decode(upgraded))
                .containsEntry("token." + values.get(KEY_TOKEN_ID), values.get(KEY_TOKEN))
                .containsEntry("hmac-key", "stale-but-harmless");
    }

    @Test
    void generatedSingleValueSecretsAreRandomLabelledAndOwned() {
        Secret hub = Credentials.generated(tunnel, "db-hub-token");
        assertThat(hub.getMetadata().getName()).isEqualTo("db-hub-token");
        assertThat(hub.getMetadata().getLabels()).containsEntry(LABEL_COMPONENT, COMPONENT_CREDENTIALS);
        assertThat(hub.getMetadata().getOwnerReferences()).hasSize(1);
        assertThat(Credentials.decode(hub)).containsOnlyKeys("token");
        assertThat(Credentials.value(hub, "token")).hasSizeGreaterThanOrEqualTo(43);
        assertThat(Credentials.value(Credentials.generated(tunnel, "db-hub-token"), "token"))
                .isNotEqualTo(Credentials.value(hub, "token"));
    }

    @Test
    void rotationWithoutGraceDropsThePreviousTokenAtOnce() {
        Secret secret = Credentials.generate(tunnel);
        String oldId = Credentials.value(secret, KEY_TOKEN_ID);
        annotate("x");
        Secret rotated = Credentials.rotate(secret, tunnel, Instant.now(), Duration.ZERO);
        assertThat(Credentials.value(rotated, KEY_TOKENS_FILE)).doesNotContain(oldId);
        assertThat(Credentials.retiringExpiry(rotated)).isEmpty();
        assertThat(Credentials.decode(rotated)).doesNotContainKey("token." + oldId);
    }

    @Test
    void tokensFileIsTheExitNodesJsonLayout() throws Exception {
        String file = Credentials.tokensFile(Map.of("k-1", "s3cr\"et"));
        var tree = new com.fasterxml.jackson.databind.ObjectMapper().readTree(file);
        assertThat(tree.fieldNames()).toIterable().containsExactly("tokens");
        assertThat(tree.get("tokens").get(0).get("id").asText()).isEqualTo("k-1");
        assertThat(tree.get("tokens").get(0).get("secret").asText()).isEqualTo("s3cr\"et");
        assertThat(tree.get("tokens").get(0).size()).isEqualTo(2);
    }

    private void annotate(String value) {
        Map<String, String> annotations = new HashMap<>();
        annotations.put(ANNOTATION_ROTATE_TOKEN, value);
        tunnel.getMetadata().setAnnotations(annotations);
    }
}
