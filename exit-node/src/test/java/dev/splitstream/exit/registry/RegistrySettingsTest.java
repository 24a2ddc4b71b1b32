package dev.splitstream.exit.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.exit.config.ConfigException;
import dev.splitstream.exit.config.TestConfigs;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RegistrySettingsTest {
    private static RegistrySettings settings(String... keyValues) {
        Map<String, String> p = new HashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            p.put(keyValues[i], keyValues[i + 1]);
        }
        return RegistrySettings.from(TestConfigs.config(p));
    }

    @Test
    void memoryIsTheDefaultAndNeedsNothingElse() {
        RegistrySettings s = settings();
        assertThat(s.postgres()).isFalse();
        assertThat(s.replicaId()).matches("[0-9a-f]{8}");
        assertThat(new MemoryRegistry(s.replicaId()).clustered()).isFalse();
    }

    @Test
    void postgresNeedsTheReplicaUrlAndTheClusterSecretNamingTheKeys() {
        assertThatThrownBy(() -> settings("splitstream.exit.registry", "postgres"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("SPLITSTREAM_EXIT_REPLICA_URL");
        assertThatThrownBy(() -> settings(
                        "splitstream.exit.registry",
                        "postgres",
                        "splitstream.exit.replica-url",
                        "http://10.0.0.5:8080"))
                .hasMessageContaining("SPLITSTREAM_EXIT_CLUSTER_SECRET");
        assertThatThrownBy(() -> settings(
                        "splitstream.exit.registry", "postgres",
                        "splitstream.exit.replica-url", "http://10.0.0.5:8080",
                        "splitstream.exit.cluster-secret", "short"))
                .hasMessageContaining("at least 16 characters")
                .hasMessageNotContaining("short");
        RegistrySettings s = settings(
                "splitstream.exit.registry", "postgres",
                "splitstream.exit.replica-url", "http://10.0.0.5:8080",
                "splitstream.exit.cluster-secret", "cluster-secret-0123456789",
                "splitstream.exit.replica-id", "exit-0");
        assertThat(s.postgres()).isTrue();
        assertThat(s.replicaId()).isEqualTo("exit-0");
        assertThat(s.toString()).doesNotContain("cluster-secret-0123456789");
    }

    @Test
    void badValuesAreRefusedWithTheKeysName() {
        assertThatThrownBy(() -> settings("splitstream.exit.registry", "redis"))
                .hasMessageContaining("splitstream.exit.registry must be memory or postgres");
        assertThatThrownBy(() -> settings("splitstream.exit.replica-id", "Not_Valid"))
                .hasMessageContaining("splitstream.exit.replica-id");
        assertThatThrownBy(() -> settings(
                        "splitstream.exit.registry", "postgres",
                        "splitstream.exit.replica-url", "ftp://x",
                        "splitstream.exit.cluster-secret", "cluster-secret-0123456789"))
                .hasMessageContaining("splitstream.exit.replica-url must be an http:// or https:// URL");
        assertThatThrownBy(() -> settings(
                        "splitstream.exit.heartbeat-interval", "5s", "splitstream.exit.replica-offline-after", "6s"))
                .hasMessageContaining("replica-offline-after must be at least twice");
    }
}
