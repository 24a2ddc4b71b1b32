package dev.splitstream.exit.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.AsciiString;
import java.util.Locale;
import org.junit.jupiter.api.Test;

class RouteExchangeHeadersTest {

    @Test
    void everyHopByHopHeaderIsFoundInAnyCase() {
        for (String name : RouteExchange.hopByHop()) {
            assertThat(RouteExchange.isHopByHop(name)).as(name).isTrue();
            assertThat(RouteExchange.isHopByHop(name.toUpperCase(Locale.ROOT)))
                    .as(name)
                    .isTrue();
            String mixed = Character.toUpperCase(name.charAt(0)) + name.substring(1);
            assertThat(RouteExchange.isHopByHop(mixed)).as(mixed).isTrue();
        }
    }

    @Test
    void endToEndHeadersAreNotHopByHop() {
        for (String name : new String[] {
            "Host",
            "Content-Length",
            "Content-Type",
            "Authorization",
            "X-Token",
            "tee",
            "T",
            "",
            "Upgrades",
            "Connection-X",
            "proxy-authorizations",
            "transfer-encodinG-x"
        }) {
            assertThat(RouteExchange.isHopByHop(name)).as(name).isFalse();
        }
    }

    @Test
    void responseHeaderNamesAsNettysDecoderGivesThemAreMatchedLikeStrings() {
        for (String name : RouteExchange.hopByHop()) {
            assertThat(RouteExchange.isHopByHop(new AsciiString(name.toUpperCase(Locale.ROOT))))
                    .as(name)
                    .isTrue();
        }
        assertThat(RouteExchange.isHopByHop(AsciiString.of("Keep-Alive"))).isTrue();
        assertThat(RouteExchange.isHopByHop(AsciiString.of("Content-Type"))).isFalse();
        assertThat(RouteExchange.isHopByHop(AsciiString.of("Upgrades"))).isFalse();
        assertThat(RouteExchange.isHopByHop(AsciiString.EMPTY_STRING)).isFalse();
    }

    @Test
    void privateHeadersAreFoundInAnyCaseAndNothingElse() {
        assertThat(RouteExchange.isPrivate("X-Token")).isTrue();
        assertThat(RouteExchange.isPrivate("x-host")).isTrue();
        assertThat(RouteExchange.isPrivate("EXPECT")).isTrue();
        assertThat(RouteExchange.isPrivate("X-Tokens")).isFalse();
        assertThat(RouteExchange.isPrivate("X-Hos")).isFalse();
        assertThat(RouteExchange.isPrivate("Connection")).isFalse();
        assertThat(RouteExchange.isPrivate("a-very-long-header-name-beyond-every-private-one"))
                .isFalse();
    }
}
