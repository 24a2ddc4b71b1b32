package dev.splitstream.exit.expose;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RouteTokensTest {
    private final RouteTokens tokens = new RouteTokens();

    @Test
    void aTokenLeadsToTheFirstAgentThatAnnouncedIt() {
        tokens.announce("a", "token-aaaaaaaaaaaaaaaa");
        tokens.announce("b", "token-aaaaaaaaaaaaaaaa");
        assertThat(tokens.agentFor("token-aaaaaaaaaaaaaaaa")).contains("a");
        assertThat(tokens.agentFor("token-bbbbbbbbbbbbbbbb")).isEmpty();
        assertThat(tokens.agentFor("")).isEmpty();
        assertThat(tokens.size()).isEqualTo(1);
    }

    @Test
    void reannouncingReplacesAndForgettingFreesTheToken() {
        tokens.announce("a", "token-aaaaaaaaaaaaaaaa");
        tokens.announce("a", "token-cccccccccccccccc");
        assertThat(tokens.agentFor("token-aaaaaaaaaaaaaaaa")).isEmpty();
        assertThat(tokens.agentFor("token-cccccccccccccccc")).contains("a");
        tokens.forget("a");
        assertThat(tokens.agentFor("token-cccccccccccccccc")).isEmpty();
        tokens.announce("b", "token-cccccccccccccccc");
        assertThat(tokens.agentFor("token-cccccccccccccccc")).contains("b");
    }

    @Test
    void aRememberedLookupAnswersTheSameTokenUntilAnyRouteChanges() {
        tokens.announce("a", "token-aaaaaaaaaaaaaaaa");
        RouteTokens.Lookup first = tokens.lookup("token-aaaaaaaaaaaaaaaa", null);
        assertThat(first.agent()).contains("a");
        assertThat(tokens.lookup(new String("token-aaaaaaaaaaaaaaaa"), first)).isSameAs(first);
        // another token, one of another length, a prefix: looked up afresh
        assertThat(tokens.lookup("token-aaaaaaaaaaaaaaab", first).agent()).isEmpty();
        assertThat(tokens.lookup("token-aaaaaaaaaaaaaaaaa", first).agent()).isEmpty();
        assertThat(tokens.lookup("token-aaaaaaaaaaaaaaa", first).agent()).isEmpty();
        // the route moved on: the remembered answer is not used again
        tokens.forget("a");
        assertThat(tokens.lookup("token-aaaaaaaaaaaaaaaa", first).agent()).isEmpty();
        tokens.announce("b", "token-aaaaaaaaaaaaaaaa");
        assertThat(tokens.lookup("token-aaaaaaaaaaaaaaaa", first).agent()).contains("b");
        assertThat(first.toString()).doesNotContain("token-aaaa");
    }
}
