package dev.splitstream.exit.route;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class AgentReportsTest {
    @Test
    void aTokenSegmentAnywhereInAPathIsRedacted() {
        assertThat(AgentReports.withoutTokens("/index.html")).isEqualTo("/index.html");
        assertThat(AgentReports.withoutTokens("/_token/secret-route-token/x/_token/other"))
                .isEqualTo("/_token/<redacted>/x/_token/<redacted>");
        assertThat(AgentReports.withoutTokens("/a/_token/")).isEqualTo("/a/_token/<redacted>");
        assertThat(AgentReports.withoutTokens(null)).isNull();
    }
}
