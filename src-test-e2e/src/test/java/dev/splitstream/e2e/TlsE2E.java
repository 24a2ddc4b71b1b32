package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.Fixtures;
import dev.splitstream.e2e.fixture.NginxFixture;
import dev.splitstream.e2e.fixture.TlsFiles;
import dev.splitstream.e2e.harness.Closer;
import dev.splitstream.e2e.harness.Daemon;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.NodeSpec;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.TargetServer;
import dev.splitstream.e2e.harness.Transfers;
import dev.splitstream.e2e.harness.Tunnel;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * TLS with a private CA on both sides of the entry: wss:// through nginx terminating TLS (trusted with --ca-file,
 * refused without), and an agent's https:// service (the agent speaks TLS to it and verifies it the same way).
 */
@ExtendWith(NodeLogs.class)
class TlsE2E {
    @Test
    void wssThroughNginxWithAPrivateCa() throws Exception {
        Programs.require("nginx");
        String token = Tunnel.newToken();
        int forward = Ports.free();
        int untrustedForward = Ports.free();
        try (Closer closer = new Closer()) {
            Path dir = Files.createDirectories(NodeLogs.dir().resolve("tls"));
            TlsFiles tls = TlsFiles.generate(dir);
            TargetServer target = closer.add(new TargetServer());
            Node exit = closer.add(NodeSpec.exit()
                            .token(token)
                            .allow("127.0.0.1:" + target.port())
                            .start())
                    .awaitReady();
            NginxFixture nginx = closer.add(NginxFixture.startTls(exit.httpPort(), tls));

            Node entry = closer.add(NodeSpec.entry()
                            .token(token)
                            .server(nginx.wssUrl())
                            .set("splitstream.entry.ca-file", tls.caCert().toString())
                            .forward(forward, "127.0.0.1", target.port())
                            .start())
                    .awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));
            Transfers.uploadAndDownload(forward, 16L * 1024 * 1024, 13, Duration.ofMinutes(1));

            Node untrusting = closer.add(NodeSpec.entry("entry-without-ca")
                    .token(token)
                    .server(nginx.wssUrl())
                    .forward(untrustedForward, "127.0.0.1", target.port())
                    .start());
            untrusting.awaitLog("cannot connect", Duration.ofSeconds(60));
            assertThat(untrusting.linesContaining("session established")).isEmpty();
            assertThat(exit.linesContaining("opened token=")).hasSize(1);
        }
    }

    @Test
    void anHttpsServiceBehindAnAgentIsReachedOverVerifiedTls() throws Exception {
        String agents = Tunnel.newToken();
        String trustingRoute = "route-" + Tunnel.newToken().substring(0, 24);
        String untrustingRoute = "route-" + Tunnel.newToken().substring(0, 24);
        try (Closer closer = new Closer()) {
            Path dir = Files.createDirectories(NodeLogs.dir().resolve("tls-service"));
            TlsFiles tls = TlsFiles.generate(dir);
            Path www = Files.createDirectories(dir.resolve("www"));
            Files.writeString(www.resolve("hello.txt"), "hello over https behind the agent\n");
            // A real HTTPS server (python's http.server wrapped in TLS) with the private CA's certificate for 127.0.0.1
            int httpsPort = Ports.free();
            Path server = dir.resolve("https.py");
            Fixtures.write(
                    server,
                    String.join(
                            "\n",
                            "import functools, http.server, ssl, sys",
                            "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)",
                            "ctx.load_cert_chain(sys.argv[2], sys.argv[3])",
                            "h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[4])",
                            "s = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), h)",
                            "s.socket = ctx.wrap_socket(s.socket, server_side=True)",
                            "s.serve_forever()",
                            ""));
            Path httpsLog = NodeLogs.file("https-service");
            Daemon https = closer.add(Daemon.start(
                    "https-service",
                    httpsLog,
                    Map.of(),
                    List.of(
                            Programs.require("python3").toString(),
                            server.toString(),
                            Integer.toString(httpsPort),
                            tls.serverCert().toString(),
                            tls.serverKey().toString(),
                            www.toString())));
            Fixtures.awaitPort(https, new InetSocketAddress("127.0.0.1", httpsPort), Duration.ofSeconds(30));

            Path tokens = dir.resolve("tokens.yaml");
            Files.writeString(
                    tokens,
                    String.join(
                            "\n", "tokens:", "  - id: agents", "    secret: \"" + agents + "\"", "    expose: {}", ""));
            Node exit = closer.add(NodeSpec.exit("exit-tls-service")
                            .set("splitstream.exit.tokens-file", tokens.toString())
                            .start())
                    .awaitReady();
            String service = "secure=https://127.0.0.1:" + httpsPort;
            Node trusting = closer.add(NodeSpec.entry("agent-with-ca")
                    .token(agents)
                    .set("splitstream.token-id", "agents")
                    .set("splitstream.entry.agent", "with-ca")
                    .set("splitstream.entry.expose", service)
                    .set("splitstream.entry.route-token", trustingRoute)
                    .set("splitstream.entry.ca-file", tls.caCert().toString())
                    .server(exit.wsUrl())
                    .start());
            Node untrusting = closer.add(NodeSpec.entry("agent-without-ca")
                    .token(agents)
                    .set("splitstream.token-id", "agents")
                    .set("splitstream.entry.agent", "without-ca")
                    .set("splitstream.entry.expose", service)
                    .set("splitstream.entry.route-token", untrustingRoute)
                    .server(exit.wsUrl())
                    .start());
            Duration wait = Duration.ofSeconds(60);
            trusting.awaitLog("exposing secure https://127.0.0.1:" + httpsPort + " as an HTTP service", wait);
            untrusting.awaitLog("exposing secure https://127.0.0.1:" + httpsPort + " as an HTTP service", wait);

            String curl = Programs.require("curl").toString();
            Exec.Result ok = Exec.run(
                    wait,
                    curl,
                    "-sS",
                    "--noproxy",
                    "*",
                    "-w",
                    "\n%{http_code}",
                    exit.httpUrl() + "/_token/" + trustingRoute + "/hello.txt");
            assertThat(ok.assertSuccess().output()).isEqualTo("hello over https behind the agent\n\n200");
            // The python server saw a TLS client: its access log has the request.
            assertThat(Files.readString(httpsLog)).contains("GET /hello.txt");

            // Without the private CA the agent refuses the certificate: a clear 502, the reason in the agent's log.
            Exec.Result refused = Exec.run(
                    wait,
                    curl,
                    "-sS",
                    "--noproxy",
                    "*",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    exit.httpUrl() + "/_token/" + untrustingRoute + "/hello.txt");
            assertThat(refused.assertSuccess().output().trim()).isEqualTo("502");
            untrusting.awaitLog("TLS with 127.0.0.1:" + httpsPort + " failed", wait);
            assertThat(Files.readString(httpsLog)
                            .lines()
                            .filter(l -> l.contains("GET /hello.txt"))
                            .count())
                    .isEqualTo(1);
            assertThat(trusting.logText()).doesNotContain(trustingRoute);
        }
    }
}
