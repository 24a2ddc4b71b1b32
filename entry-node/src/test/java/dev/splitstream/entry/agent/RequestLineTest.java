package dev.splitstream.entry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.Frame;
import org.junit.jupiter.api.Test;

class RequestLineTest {
    private static Frame.RouteLog report(String path, int status, long micros, long in, long out, Frame.RouteVia via) {
        return new Frame.RouteLog("web", via, "GET", path, status, micros, in, out, 0);
    }

    @Test
    void oneLineSaysServiceMethodPathStatusLatencyAndBytes() {
        assertThat(Agent.requestLine(report("/index.html", 200, 3_100, 0, 1_229, Frame.RouteVia.TOKEN), null))
                .isEqualTo("[web] GET /index.html 200 3.1 ms 1.2 KiB");
        assertThat(Agent.requestLine(report("/up", 201, 850, 5 * 1024, 12, Frame.RouteVia.HUB), null))
                .isEqualTo("[web] GET /up 201 850 us 12 B (sent 5.0 KiB) via hub");
        assertThat(Agent.requestLine(report("/slow", 0, 2_450_000, 0, 0, Frame.RouteVia.HOST), null))
                .isEqualTo("[web] GET /slow --- 2.45 s 0 B via host");
    }

    @Test
    void theRouteTokenNeverShowsEvenWhenAClientPutItIntoThePath() {
        String token = "route-token-0123456789";
        String line = Agent.requestLine(
                report("/_token/" + token + "/x/" + token, 404, 10, 0, 0, Frame.RouteVia.TOKEN), token);
        assertThat(line).doesNotContain(token).contains("/_token/<redacted>/x/<redacted>");
    }

    @Test
    void latencyAndBytesUseReadableUnits() {
        assertThat(Agent.latency(0)).isEqualTo("0 us");
        assertThat(Agent.latency(999)).isEqualTo("999 us");
        assertThat(Agent.latency(1_000)).isEqualTo("1.0 ms");
        assertThat(Agent.latency(999_949)).isEqualTo("999.9 ms");
        assertThat(Agent.latency(61_000_000)).isEqualTo("61.00 s");
        assertThat(Agent.bytes(1023)).isEqualTo("1023 B");
        assertThat(Agent.bytes(Long.MAX_VALUE)).isEqualTo("8.0 EiB");
    }
}
