package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.HttpFixture;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** curl through the entry's SOCKS5 and HTTP CONNECT listeners to a loopback HTTP server. */
@ExtendWith(NodeLogs.class)
class ProxyListenersE2E {
    private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(60);

    private static HttpFixture http;
    private static Tunnel tunnel;
    private static int socksPort;
    private static int connectPort;

    @BeforeAll
    static void startTunnel() throws Exception {
        http = new HttpFixture();
        socksPort = Ports.free();
        connectPort = Ports.free();
        tunnel = Tunnel.start(exit -> exit.allow("127.0.0.1:" + http.port()), entry -> entry.socks(socksPort)
                .httpConnect(connectPort));
        tunnel.entry().awaitLog("socks5 listening on 127.0.0.1:" + socksPort, Duration.ofSeconds(10));
        tunnel.entry().awaitLog("http-connect listening on 127.0.0.1:" + connectPort, Duration.ofSeconds(10));
    }

    @AfterAll
    static void stopTunnel() {
        if (tunnel != null) {
            tunnel.close();
        }
        if (http != null) {
            http.close();
        }
    }

    @Test
    void curlThroughSocks5WithRemoteHostnameResolution() {
        String curl = Programs.require("curl").toString();
        Exec.Result result = Exec.run(
                        CLIENT_TIMEOUT,
                        curl,
                        "-sS",
                        "--max-time",
                        "30",
                        "--socks5-hostname",
                        "127.0.0.1:" + socksPort,
                        http.url())
                .assertSuccess();
        assertThat(result.output()).isEqualTo(HttpFixture.BODY);
    }

    @Test
    void curlThroughHttpConnect() {
        String curl = Programs.require("curl").toString();
        Exec.Result result = Exec.run(
                        CLIENT_TIMEOUT,
                        curl,
                        "-sS",
                        "--max-time",
                        "30",
                        "-p",
                        "-x",
                        "http://127.0.0.1:" + connectPort,
                        http.url())
                .assertSuccess();
        assertThat(result.output()).isEqualTo(HttpFixture.BODY);
    }

    @Test
    void socks5WithUsernameAndPassword() {
        String curl = Programs.require("curl").toString();
        int port = Ports.free();
        try (Tunnel withAuth = Tunnel.start(exit -> exit.allow("127.0.0.1:" + http.port()), entry -> entry.socks(port)
                .set("splitstream.entry.socks-username", "e2e")
                .set("splitstream.entry.socks-password", "s3cret-pass"))) {
            Exec.Result ok = Exec.run(
                            CLIENT_TIMEOUT,
                            curl,
                            "-sS",
                            "--max-time",
                            "30",
                            "-x",
                            "socks5h://e2e:s3cret-pass@127.0.0.1:" + port,
                            http.url())
                    .assertSuccess();
            assertThat(ok.output()).isEqualTo(HttpFixture.BODY);
            Exec.Result wrong = Exec.run(
                    CLIENT_TIMEOUT,
                    curl,
                    "-sS",
                    "--max-time",
                    "30",
                    "-x",
                    "socks5h://e2e:wrong@127.0.0.1:" + port,
                    http.url());
            assertThat(wrong.exitCode()).as(wrong.describe("")).isNotZero();
            Exec.Result none = Exec.run(
                    CLIENT_TIMEOUT,
                    curl,
                    "-sS",
                    "--max-time",
                    "30",
                    "--socks5-hostname",
                    "127.0.0.1:" + port,
                    http.url());
            assertThat(none.exitCode()).as(none.describe("")).isNotZero();
            assertThat(withAuth.entry().logText()).doesNotContain("s3cret-pass");
        }
    }

    @Test
    void manyCurlRequestsThroughSocks5() {
        String curl = Programs.require("curl").toString();
        int before = http.requests();
        for (int i = 0; i < 20; i++) {
            Exec.run(
                            CLIENT_TIMEOUT,
                            curl,
                            "-sS",
                            "--max-time",
                            "30",
                            "--socks5-hostname",
                            "127.0.0.1:" + socksPort,
                            http.url())
                    .assertSuccess();
        }
        assertThat(http.requests() - before).isEqualTo(20);
    }
}
