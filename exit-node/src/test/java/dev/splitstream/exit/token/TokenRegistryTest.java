package dev.splitstream.exit.token;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.config.TestConfigs;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenRegistryTest {
    @TempDir
    Path dir;

    private Vertx vertx;

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
    }

    @AfterEach
    void stop() {
        vertx.close().toCompletionStage().toCompletableFuture().join();
    }

    private static void write(Path file, String text, int secondsAhead) throws Exception {
        Files.writeString(file, text);
        // Modification times can be coarse: move them on explicitly so every change is seen.
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(secondsAhead)));
    }

    @Test
    void reloadsTheFileWhenItChangesAndKeepsTheOldTokensOnError() throws Exception {
        Path file = dir.resolve("tokens.yaml");
        write(file, "tokens:\n  - {id: alice, secret: alice-secret-0123456789}\n", 0);
        ExitSettings settings = ExitSettings.from(TestConfigs.config(Map.of(
                "splitstream.exit.tokens-file", file.toString(), "splitstream.exit.tokens-reload-interval", "50ms")));
        TokenRegistry registry = new TokenRegistry(settings, vertx);
        registry.onStart(null);
        assertThat(registry.isLoaded()).isTrue();
        assertThat(registry.policy("alice")).isPresent();

        write(file, "tokens:\n  - {id: bob, secret: bob-secret-0123456789xx}\n", 5);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.policy("bob").isPresent());
        assertThat(registry.policy("alice")).isEmpty();

        write(file, "tokens: [ broken", 10);
        // A bad version is ignored: bob stays.
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> registry.policy("bob")
                .isPresent());
        registry.onStop(null);
    }

    @Test
    void singleTokenAndFileTokensCombine() throws Exception {
        Path file = dir.resolve("tokens.json");
        write(file, "{\"tokens\": [{\"id\": \"alice\", \"secret\": \"alice-secret-0123456789\"}]}", 0);
        ExitSettings settings = ExitSettings.from(TestConfigs.config(Map.of(
                "splitstream.token", "single-secret-0123456789", "splitstream.exit.tokens-file", file.toString())));
        TokenRegistry registry = new TokenRegistry(settings, vertx);
        registry.load();
        assertThat(registry.size()).isEqualTo(2);
        assertThat(registry.secretFor("default")).isPresent();
        assertThat(registry.secretFor("alice")).isPresent();
        assertThat(registry.secretFor("nobody")).isEmpty();
    }

    @Test
    void badFileAtStartFailsNamingTheKey() throws Exception {
        Path file = dir.resolve("tokens.yaml");
        write(file, "tokens:\n  - {id: alice}\n", 0);
        ExitSettings settings =
                ExitSettings.from(TestConfigs.config(Map.of("splitstream.exit.tokens-file", file.toString())));
        TokenRegistry registry = new TokenRegistry(settings, vertx);
        assertThatThrownBy(() -> registry.onStart(null))
                .hasMessageContaining("splitstream.exit.tokens-file")
                .hasMessageContaining("field 'secret' is required");
    }
}
