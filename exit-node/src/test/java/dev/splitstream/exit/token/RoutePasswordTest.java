package dev.splitstream.exit.token;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class RoutePasswordTest {
    private static String basic(String userAndPassword) {
        return "Basic " + Base64.getEncoder().encodeToString(userAndPassword.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void admitsBasicWithThePasswordAndAnyUser() {
        RoutePassword p = RoutePassword.of("s3cret:with colon");
        assertThat(p.admits(basic("alice:s3cret:with colon"))).isTrue();
        assertThat(p.admits(basic(":s3cret:with colon"))).isTrue();
        assertThat(p.admits("basic " + basic("bob:s3cret:with colon").substring(6)))
                .isTrue();
    }

    @Test
    void refusesEverythingElse() {
        RoutePassword p = RoutePassword.of("s3cret-password");
        assertThat(p.admits(null)).isFalse();
        assertThat(p.admits("")).isFalse();
        assertThat(p.admits(basic("alice:wrong"))).isFalse();
        assertThat(p.admits(basic("alice:s3cret-password "))).isFalse();
        assertThat(p.admits(basic("s3cret-password"))).as("no colon").isFalse();
        assertThat(p.admits("Basic !!!not base64")).isFalse();
        assertThat(p.admits("Bearer s3cret-password")).isFalse();
    }

    @Test
    void neverPrintsThePassword() {
        RoutePassword p = RoutePassword.of("s3cret-password");
        assertThat(p.toString()).doesNotContain("s3cret").contains("redacted");
        assertThat(new ExposePolicy(true, 1, 2, 1, 1, 1, java.util.Optional.of(p)).toString())
                .doesNotContain("s3cret");
        assertThat(p).isEqualTo(RoutePassword.of("s3cret-password")).isNotEqualTo(RoutePassword.of("other-pass"));
    }
}
