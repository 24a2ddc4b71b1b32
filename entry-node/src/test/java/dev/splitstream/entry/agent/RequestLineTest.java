package dev.splitstream.entry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.Frame;
import java.util.List;
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

    @Test
    void latencyAndBytesPrintWhatTheFormatterPrinted() {
        java.util.Random r = new java.util.Random(8);
        List<Long> values = new java.util.ArrayList<>(List.of(
                1_000L,
                1_049L,
                1_050L,
                1_051L,
                999_949L,
                999_950L,
                999_999L,
                1_000_000L,
                1_004_999L,
                1_005_000L,
                1_024L,
                1_075L,
                1_076L,
                1_048_575L,
                1_048_576L,
                1_073_741_823L,
                1_073_741_824L,
                86_400_000_000L));
        for (int i = 0; i < 20_000; i++) {
            values.add(1_000 + (r.nextLong() & Long.MAX_VALUE) % (i % 2 == 0 ? 2_000_000L : 2_000_000_000L));
        }
        for (long v : values) {
            String ms = v < 1_000_000
                    ? String.format(java.util.Locale.ROOT, "%.1f ms", v / 1000.0)
                    : String.format(java.util.Locale.ROOT, "%.2f s", v / 1e6);
            assertThat(Agent.latency(v)).as("latency %d", v).isEqualTo(ms);
            double b = v;
            int u = -1;
            while (b >= 1024 && u < 5) {
                b /= 1024;
                u++;
            }
            if (u < 0) {
                assertThat(Agent.bytes(v)).isEqualTo(v + " B");
                continue;
            }
            String unit = List.of("KiB", "MiB", "GiB", "TiB", "PiB", "EiB").get(u);
            assertThat(Agent.bytes(v))
                    .as("bytes %d", v)
                    .isEqualTo(String.format(java.util.Locale.ROOT, "%.1f %s", b, unit));
        }
    }
}
