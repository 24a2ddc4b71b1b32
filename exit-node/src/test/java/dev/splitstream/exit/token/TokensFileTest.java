package dev.splitstream.exit.token;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.bridge.AllowList;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.protocol.Secret;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class TokensFileTest {
    private static final AllowList DEFAULT = AllowList.parse(List.of("127.0.0.1:*"));
    private static final ExitSettings.Expose NODE = new ExitSettings.Expose(
            Optional.of(new ExitSettings.PortRange(10000, 10999)),
            "0.0.0.0",
            Duration.ofMinutes(10),
            Duration.ofSeconds(30),
            20);

    @Test
    void exposeIsForbiddenWithoutABlockAndLimitedByIt() throws Exception {
        String yaml =
                """
                tokens:
                  - id: plain
                    secret: plain-secret-0123456789
                  - id: agent
                    secret: agent-secret-0123456789
                    expose: {ports: "10100-10109", maxPorts: 3, maxAgents: 2, maxQueued: 5}
                  - id: off
                    secret: off-secret-0123456789
                    expose: {allowed: false}
                  - id: whole
                    secret: whole-secret-0123456789
                    expose: {}
                """;
        Map<String, TokenPolicy> tokens = TokensFile.parse("t.yaml", yaml, DEFAULT, 16, 100, NODE);
        assertThat(tokens.get("plain").expose().allowed()).isFalse();
        assertThat(tokens.get("off").expose().allowed()).isFalse();
        assertThat(tokens.get("agent").expose()).isEqualTo(new ExposePolicy(true, 10100, 10109, 3, 2, 5));
        assertThat(tokens.get("whole").expose())
                .isEqualTo(new ExposePolicy(true, 10000, 10999, 1000, ExposePolicy.DEFAULT_MAX_AGENTS, 20));
    }

    @Test
    void aRoutePasswordIsKeptAsADigestAndCheckedForLength() throws Exception {
        String yaml = "tokens:\n  - {id: a, secret: 0123456789abcdefgh, expose: {routePassword: \"open sesame 42\"}}\n";
        ExposePolicy policy = TokensFile.parse("t.yaml", yaml, DEFAULT, 16, 100, NODE)
                .get("a")
                .expose();
        assertThat(policy.routePassword()).contains(RoutePassword.of("open sesame 42"));
        assertThat(policy.toString()).doesNotContain("sesame");
        String none = "tokens:\n  - {id: a, secret: 0123456789abcdefgh, expose: {}}\n";
        assertThat(TokensFile.parse("t.yaml", none, DEFAULT, 16, 100, NODE)
                        .get("a")
                        .expose()
                        .routePassword())
                .isEmpty();
        String shortOne = "tokens:\n  - {id: a, secret: 0123456789abcdefgh, expose: {routePassword: \"short\"}}\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", shortOne, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("tokens[0] (id a): field 'expose.routePassword' must be 8 to 1024 characters")
                .hasMessageNotContaining("short\"");
    }

    @Test
    void badExposeBlocksAreRefusedNamingTheField() {
        String yaml = "tokens:\n  - {id: a, secret: 0123456789abcdefgh, expose: {ports: \"9-1\"}}\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", yaml, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("tokens[0] (id a): field 'expose.ports'");
        String unknown = "tokens:\n  - {id: a, secret: 0123456789abcdefgh, expose: {port: 1}}\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", unknown, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("port");
    }

    @Test
    void parsesYaml() throws Exception {
        String yaml =
                """
                tokens:
                  - id: alice
                    secret: alice-secret-0123456789
                    allow: ["db.internal:5432", "10.0.0.0/8:*"]
                    maxStreams: 8
                  - id: bob
                    secret: bob-secret-0123456789
                """;
        Map<String, TokenPolicy> tokens = TokensFile.parse("t.yaml", yaml, DEFAULT, 1024, 100, NODE);
        assertThat(tokens).containsOnlyKeys("alice", "bob");
        TokenPolicy alice = tokens.get("alice");
        assertThat(alice.secret()).isEqualTo(Secret.ofText("alice-secret-0123456789"));
        assertThat(alice.allow().allowsName("db.internal", 5432)).isTrue();
        assertThat(alice.maxStreams()).isEqualTo(8);
        TokenPolicy bob = tokens.get("bob");
        assertThat(bob.allow()).isSameAs(DEFAULT);
        assertThat(bob.maxStreams()).isEqualTo(1024);
    }

    @Test
    void parsesJson() throws Exception {
        String json =
                """
                {"tokens": [{"id": "alice", "secret": "alice-secret-0123456789", "allow": ["[::1]:*"]}]}
                """;
        Map<String, TokenPolicy> tokens = TokensFile.parse("t.json", json, DEFAULT, 16, 100, NODE);
        assertThat(tokens.get("alice").allow().rules()).hasSize(1);
    }

    @Test
    void syntaxErrorNamesFileAndLine() {
        String yaml = "tokens:\n  - id: alice\n    secret: [unclosed\n";
        assertThatThrownBy(() -> TokensFile.parse("/etc/t.yaml", yaml, DEFAULT, 16, 100, NODE))
                .isInstanceOf(TokensFileException.class)
                .hasMessageContaining("/etc/t.yaml")
                .hasMessageContaining("line ");
    }

    @Test
    void unknownFieldNamesTheField() {
        String json = "{\"tokens\": [{\"id\": \"a\", \"secret\": \"0123456789abcdefgh\", \"alow\": []}]}";
        assertThatThrownBy(() -> TokensFile.parse("t.json", json, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("t.json")
                .hasMessageContaining("line 1")
                .hasMessageContaining("alow");
    }

    @Test
    void wrongTypeNamesTheField() {
        String yaml = "tokens:\n  - id: a\n    secret: 0123456789abcdefgh\n    maxStreams: many\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", yaml, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("line 4")
                .hasMessageContaining("tokens[0].maxStreams");
    }

    @Test
    void badAllowEntryNamesTokenAndEntry() {
        String yaml = "tokens:\n  - id: alice\n    secret: 0123456789abcdefgh\n    allow: [\"db.internal\"]\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", yaml, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("tokens[0] (id alice)")
                .hasMessageContaining("allow")
                .hasMessageContaining("'db.internal'");
    }

    @Test
    void missingSecretDuplicateIdAndShortSecretAreRefused() {
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", "tokens:\n  - id: a\n", DEFAULT, 16, 100, NODE))
                .hasMessageContaining("tokens[0] (id a): field 'secret' is required");
        String dup = "tokens:\n  - {id: a, secret: 0123456789abcdefgh}\n  - {id: a, secret: 0123456789abcdefgh}\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", dup, DEFAULT, 16, 100, NODE))
                .hasMessageContaining("tokens[1] (id a): duplicate id");
        assertThatThrownBy(() ->
                        TokensFile.parse("t.yaml", "tokens:\n  - {id: a, secret: short}\n", DEFAULT, 16, 100, NODE))
                .hasMessageContaining("at least 16")
                .hasMessageNotContaining("short");
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", "other: 1\n", DEFAULT, 16, 100, NODE))
                .isInstanceOf(TokensFileException.class);
    }

    @Test
    void errorsNeverEchoTheSecret() {
        String yaml = "tokens:\n  - id: a\n    secret: {nested: super-secret-value-123}\n";
        assertThatThrownBy(() -> TokensFile.parse("t.yaml", yaml, DEFAULT, 16, 100, NODE))
                .hasMessageNotContaining("super-secret-value-123");
    }
}
