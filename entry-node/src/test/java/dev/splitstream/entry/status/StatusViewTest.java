package dev.splitstream.entry.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.entry.session.SessionManager;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.jline.utils.AttributedString;
import org.junit.jupiter.api.Test;

class StatusViewTest {
    private static StatusView.Snapshot snapshot(SessionManager.Status status, List<String> log) {
        return snapshot(status, log, List.of());
    }

    private static StatusView.Snapshot snapshot(SessionManager.Status status, List<String> log, List<String> requests) {
        return new StatusView.Snapshot(
                "ws://exit.example:8080",
                status,
                List.of("forward 127.0.0.1:2222 -> 10.0.0.5:22", "socks5 127.0.0.1:1080"),
                status.exposed(),
                12,
                2,
                1536,
                5L * 1024 * 1024,
                2048,
                0,
                3,
                1_500_000,
                Duration.ofSeconds(3725),
                10_000,
                log,
                requests.size(),
                requests);
    }

    private static String text(List<AttributedString> lines) {
        return String.join("\n", lines.stream().map(AttributedString::toString).toList());
    }

    @Test
    void connectedScreenShowsServerTransportSessionListenersAndCounters() {
        var status = new SessionManager.Status(
                SessionManager.State.CONNECTED, "ab".repeat(16), "websocket", "probe", 0, 0, "old problem", List.of());
        String screen = text(StatusView.render(snapshot(status, List.of("12:00:00 INFO  hello")), 40, 200));
        assertThat(screen)
                .contains("up 1:02:05")
                .contains("Server     ws://exit.example:8080")
                .contains("Transport  websocket  (probe)")
                .contains("Session    connected   id " + "ab".repeat(16) + "   rtt 1.5 ms")
                .contains("Listeners  forward 127.0.0.1:2222 -> 10.0.0.5:22")
                .contains("           socks5 127.0.0.1:1080")
                .contains("Exposed    none")
                .contains("connections 12 (2 open)   up 1.5 KiB (2.0 KiB/s)   down 5.0 MiB (0 B/s)   reconnects 3")
                .contains("12:00:00 INFO  hello")
                .doesNotContain("old problem");
    }

    @Test
    void backoffShowsWhenTheNextAttemptIsDueAndTheLastProblem() {
        var status = new SessionManager.Status(
                SessionManager.State.BACKOFF,
                null,
                "websocket",
                "probe",
                12_500,
                3,
                "refused: AUTH_FAILED bad proof",
                List.of("ssh 127.0.0.1:22 -> tcp://exit.example:10001"));
        String screen = text(StatusView.render(snapshot(status, List.of()), 40, 200));
        assertThat(screen)
                .contains("Session    backoff   next attempt in 2.5 s (failed attempts 3)")
                .contains("Problem    refused: AUTH_FAILED bad proof")
                .contains("Exposed    ssh 127.0.0.1:22 -> tcp://exit.example:10001")
                .doesNotContain("rtt");
    }

    @Test
    void linesAreCutToTheScreenAndTheNewestLogLinesKept() {
        var status = new SessionManager.Status(
                SessionManager.State.RESUMING,
                "cd".repeat(16),
                "http-stream",
                "websocket failed",
                10_100,
                1,
                "lost",
                List.of());
        List<String> log = IntStream.range(0, 100)
                .mapToObj(i -> "line " + i + " " + "x".repeat(100))
                .toList();
        List<AttributedString> lines = StatusView.render(snapshot(status, log), 20, 40);
        assertThat(lines).hasSize(20).allSatisfy(l -> assertThat(l.columnLength())
                .isLessThanOrEqualTo(40));
        assertThat(lines.get(19).toString()).startsWith("line 99 ");
        assertThat(text(lines)).contains("resuming").doesNotContain("line 0 ");
    }

    @Test
    void anAgentShowsItsNewestRequestsAboveTheLog() {
        var status = new SessionManager.Status(
                SessionManager.State.CONNECTED,
                "ef".repeat(16),
                "websocket",
                "probe",
                0,
                0,
                null,
                List.of("web http://127.0.0.1:8080 -> HTTP service"));
        List<String> requests = IntStream.range(0, 12)
                .mapToObj(i -> "12:00:0" + (i % 10) + " [web] GET /r" + i + " 200 1.0 ms 12 B")
                .toList();
        String screen = text(StatusView.render(snapshot(status, List.of("12:00:00 INFO  hello"), requests), 60, 200));
        assertThat(screen)
                .contains("Requests   12 routed to exposed HTTP services")
                .contains("[web] GET /r11 200 1.0 ms 12 B")
                .contains("[web] GET /r4 200")
                .doesNotContain("[web] GET /r3 200");
        assertThat(screen.indexOf("Requests")).isLessThan(screen.indexOf("\nLog"));
        assertThat(text(StatusView.render(snapshot(status, List.of()), 60, 200)))
                .doesNotContain("Requests");
    }

    @Test
    void bytesAreShownInBinaryUnits() {
        assertThat(StatusView.bytes(0)).isEqualTo("0 B");
        assertThat(StatusView.bytes(1023)).isEqualTo("1023 B");
        assertThat(StatusView.bytes(1024)).isEqualTo("1.0 KiB");
        assertThat(StatusView.bytes(3L * 1024 * 1024 * 1024)).isEqualTo("3.0 GiB");
    }

    @Test
    void logTailKeepsOnlyTheNewestLines() {
        LogTail tail = new LogTail(3);
        for (int i = 0; i < 5; i++) {
            tail.add("l" + i);
        }
        assertThat(tail.last(10)).containsExactly("l2", "l3", "l4");
        assertThat(tail.last(2)).containsExactly("l3", "l4");
    }
}
