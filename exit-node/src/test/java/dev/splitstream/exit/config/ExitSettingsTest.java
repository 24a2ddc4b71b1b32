package dev.splitstream.exit.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExitSettingsTest {

    @Test
    void defaultsAreTheDocumentedOnes() {
        ExitSettings s = ExitSettings.from(TestConfigs.config(Map.of("splitstream.token", "0123456789abcdef")));
        assertThat(s.tokenId()).isEqualTo("default");
        assertThat(s.allow().isEmpty()).isTrue();
        assertThat(s.maxSessions()).isEqualTo(1000);
        assertThat(s.limits().maxStreams()).isEqualTo(1024);
        assertThat(s.limits().maxPayload()).isEqualTo(64 * 1024);
        assertThat(s.handshakeTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(s.idleTimeout()).isEqualTo(Duration.ofSeconds(300));
        assertThat(s.dialTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(s.resumeTimeout()).isEqualTo(Duration.ofSeconds(120));
    }

    @Test
    void httpTransportDefaultsAreTheDocumentedOnesAndChecked() {
        ExitSettings.Http h = ExitSettings.from(TestConfigs.config(Map.of("splitstream.token", "0123456789abcdef")))
                .http();
        assertThat(h.maxBatch()).isEqualTo(1024 * 1024);
        assertThat(h.streamMax()).isEqualTo(Duration.ofSeconds(30));
        assertThat(h.streamMaxBytes()).isEqualTo(8L * 1024 * 1024);
        assertThat(h.pollWait()).isEqualTo(Duration.ofSeconds(20));
        assertThat(h.pollMaxBytes()).isEqualTo(1024 * 1024);
        assertThat(h.streamPingInterval()).isEqualTo(Duration.ofSeconds(5));
        assertThat(h.legTimeout()).isEqualTo(Duration.ofSeconds(60));
        assertThat(h.maxPendingHandshakes()).isEqualTo(1000);
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.exit.http.max-batch", "16K"))))
                .hasMessageContaining("splitstream.exit.http.max-batch");
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.exit.http.leg-timeout", "0s"))))
                .hasMessageContaining("splitstream.exit.http.leg-timeout");
    }

    @Test
    void compressionIsAutoByDefaultAndSharesTheEntrysKeys() {
        ExitSettings auto = ExitSettings.from(TestConfigs.config(Map.of("splitstream.token", "0123456789abcdef")));
        assertThat(auto.deflate()).contains(new dev.splitstream.protocol.Deflate(1, 512));
        ExitSettings off = ExitSettings.from(
                TestConfigs.config(Map.of("splitstream.token", "0123456789abcdef", "splitstream.compression", "off")));
        assertThat(off.deflate()).isEmpty();
        ExitSettings tuned = ExitSettings.from(TestConfigs.config(Map.of(
                "splitstream.token",
                "0123456789abcdef",
                "splitstream.compression-level",
                "6",
                "splitstream.compression-threshold",
                "1024")));
        assertThat(tuned.deflate()).contains(new dev.splitstream.protocol.Deflate(6, 1024));
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.compression", "gzip"))))
                .hasMessageContaining("splitstream.compression (SPLITSTREAM_COMPRESSION): 'gzip'");
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.compression-level", "0"))))
                .hasMessageContaining("splitstream.compression-level");
    }

    @Test
    void noTokenAndNoTokensFileFailsNamingBothKeys() {
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(Map.of())))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("splitstream.token (SPLITSTREAM_TOKEN), splitstream.token-file")
                .hasMessageContaining("splitstream.exit.tokens-file");
    }

    @Test
    void encryptionIsOnByDefaultAndOnlyOnOrOffAreAccepted() {
        assertThat(ExitSettings.from(TestConfigs.config(Map.of("splitstream.token", "0123456789abcdef")))
                        .encryption())
                .isTrue();
        assertThat(ExitSettings.from(TestConfigs.config(
                                Map.of("splitstream.token", "0123456789abcdef", "splitstream.encryption", "off")))
                        .encryption())
                .isFalse();
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.encryption", "yes"))))
                .hasMessage("splitstream.encryption (SPLITSTREAM_ENCRYPTION): 'yes' is not on or off");
    }

    @Test
    void tokenFileIsReadAtStartAndExcludesAToken(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = java.nio.file.Files.writeString(dir.resolve("token"), "0123456789abcdef-FILE\n");
        ExitSettings s = ExitSettings.from(TestConfigs.config(Map.of("splitstream.token-file", file.toString())));
        assertThat(s.tokenFile()).contains(file);
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token-file", file.toString(), "splitstream.token", "0123456789abcdef"))))
                .hasMessageContaining("not both");
        java.nio.file.Path shortFile = java.nio.file.Files.writeString(dir.resolve("short"), "tiny-SECRET\n");
        assertThatThrownBy(() ->
                        ExitSettings.from(TestConfigs.config(Map.of("splitstream.token-file", shortFile.toString()))))
                .hasMessageContaining("at least 16 characters")
                .hasMessageNotContaining("tiny-SECRET");
    }

    @Test
    void badAllowEntryFailsNamingKeyAndEntry() {
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.exit.allow", "db:5432,nonsense"))))
                .hasMessageContaining("splitstream.exit.allow")
                .hasMessageContaining("'nonsense'");
    }

    @Test
    void limitsAreChecked() {
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.exit.max-frame", "100"))))
                .hasMessageContaining("splitstream.exit.max-frame");
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.exit.max-streams", "0"))))
                .hasMessageContaining("splitstream.exit.max-streams");
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(
                        Map.of("splitstream.token", "0123456789abcdef", "splitstream.exit.idle-timeout", "0s"))))
                .hasMessageContaining("splitstream.exit.idle-timeout");
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(Map.of(
                        "splitstream.token",
                        "0123456789abcdef",
                        "splitstream.exit.tokens-file",
                        "/nonexistent/t.yaml"))))
                .hasMessageContaining("splitstream.exit.tokens-file");
    }

    @Test
    void shortTokenIsRefusedWithoutEchoingIt() {
        assertThatThrownBy(() -> ExitSettings.from(TestConfigs.config(Map.of("splitstream.token", "tiny-pw"))))
                .hasMessageContaining("splitstream.token")
                .hasMessageNotContaining("tiny-pw");
    }

    @Test
    void toStringNeverShowsTheToken() {
        ExitSettings s = ExitSettings.from(TestConfigs.config(Map.of("splitstream.token", "0123456789abcdef-SECRET")));
        assertThat(s.toString()).doesNotContain("SECRET");
    }
}
