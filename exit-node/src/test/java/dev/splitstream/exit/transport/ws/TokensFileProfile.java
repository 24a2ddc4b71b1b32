package dev.splitstream.exit.transport.ws;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Multi-tenant exit node: tokens from a file (reloaded every 200ms), two sessions at most, 2s idle
 * timeout, 1s resume timeout. */
public class TokensFileProfile implements QuarkusTestProfile {
    static final Path FILE = createFile();

    static final String INITIAL =
            """
            tokens:
              - id: alice
                secret: alice-secret-0123456789
                allow: ["127.0.0.1:*"]
                maxStreams: 1
              - id: bob
                secret: bob-secret-0123456789xx
                allow: ["[::1]:*"]
            """;

    private static Path createFile() {
        try {
            Path file = Files.createTempFile("splitstream-tokens", ".yaml");
            Files.writeString(file, INITIAL);
            file.toFile().deleteOnExit();
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "splitstream.token", "",
                "splitstream.exit.allow", "",
                "splitstream.exit.tokens-file", FILE.toString(),
                "splitstream.exit.tokens-reload-interval", "200ms",
                "splitstream.exit.max-sessions", "2",
                "splitstream.exit.idle-timeout", "2s",
                "splitstream.exit.resume-timeout", "1s");
    }
}
