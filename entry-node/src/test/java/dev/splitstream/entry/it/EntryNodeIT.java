package dev.splitstream.entry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Authenticator;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.PasswordAuthentication;
import java.net.Proxy;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The packaged entry node against a tiny in-test exit node ({@link FakeExit}, built from the protocol library), with
 * real sockets on loopback: forwards, SOCKS5 and HTTP CONNECT move bytes, refusals map to protocol replies, a dropped
 * WebSocket resumes without losing bytes, a lost session is replaced, a slow reader stops the sender.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EntryNodeIT {
    static final String TOKEN = "it-secret-token";
    static final int DENIED_PORT = 9;
    static final Duration WAIT = Duration.ofSeconds(15);

    FakeExit exit;
    TestTargets targets;
    EntryProcess entry;
    int echoForward;
    int sourceForward;
    int socksPort;
    int connectPort;
    int managementPort;

    @BeforeAll
    void start() throws Exception {
        exit = new FakeExit(TOKEN, Set.of(DENIED_PORT));
        int exitPort = exit.start();
        targets = new TestTargets();
        entry = new EntryProcess(Map.of(
                "SPLITSTREAM_TOKEN", TOKEN,
                "SPLITSTREAM_ENTRY_SERVER", "ws://127.0.0.1:" + exitPort,
                "SPLITSTREAM_ENTRY_FORWARDS",
                        "0=127.0.0.1:" + targets.echoPort() + ",127.0.0.1:0=127.0.0.1:" + targets.sourcePort(),
                "SPLITSTREAM_ENTRY_SOCKS", "0",
                "SPLITSTREAM_ENTRY_SOCKS_USERNAME", "alice",
                "SPLITSTREAM_ENTRY_SOCKS_PASSWORD", "wonderland",
                "SPLITSTREAM_ENTRY_HTTP_CONNECT", "127.0.0.1:0",
                "SPLITSTREAM_ENTRY_PING_INTERVAL", "1s",
                "SPLITSTREAM_ENTRY_PING_TIMEOUT", "4s",
                "SPLITSTREAM_ENTRY_RECONNECT_MAX", "1s"));
        echoForward = port(entry.awaitGroup(
                "forwarding 127\\.0\\.0\\.1:(\\d+) → 127\\.0\\.0\\.1:" + targets.echoPort()
                        + " via ws://127\\.0\\.0\\.1:",
                WAIT));
        sourceForward = port(entry.awaitGroup(
                "forwarding 127\\.0\\.0\\.1:(\\d+) → 127\\.0\\.0\\.1:" + targets.sourcePort() + " via ", WAIT));
        socksPort = port(entry.awaitGroup("socks5 listening on 127\\.0\\.0\\.1:(\\d+) via ws://", WAIT));
        connectPort = port(entry.awaitGroup("http-connect listening on 127\\.0\\.0\\.1:(\\d+) via ws://", WAIT));
        managementPort =
                port(entry.awaitGroup("Management interface listening on http://127\\.0\\.0\\.1:(\\d+)", WAIT));
        entry.awaitGroup("session established ([0-9a-f]{32}) transport=websocket", WAIT);
    }

    @AfterAll
    void stop() throws Exception {
        try {
            if (entry != null) {
                int code = entry.stop();
                Files.writeString(
                        Path.of("target", "entry-node-it.log"), entry.output() + "\nexit code " + code + "\n");
                assertThat(entry.output())
                        .containsPattern("summary: connections=\\d+ bytes_up=\\d+ bytes_down=\\d+ uptime=PT");
                assertThat(entry.output()).doesNotContain(TOKEN).doesNotContain("wonderland");
            }
        } finally {
            if (exit != null) {
                exit.close();
            }
            if (targets != null) {
                targets.close();
            }
        }
    }

    private static int port(String s) {
        return Integer.parseInt(s);
    }

    @Test
    @Order(1)
    void forwardMovesAMegabyteBothWaysAndHalfCloses() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echoForward)) {
            byte[] data = random(1024 * 1024, 1);
            CompletableFuture<byte[]> echoed = readAll(s.getInputStream());
            s.getOutputStream().write(data);
            long echoedBefore = TestTargets.echoed.get();
            s.shutdownOutput(); // FIN through the tunnel; the echo answers with its own FIN once done
            byte[] got = echoed.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(got.length)
                    .as("echoed %d, target saw %d", got.length, TestTargets.echoed.get() - echoedBefore)
                    .isEqualTo(data.length);
            assertThat(Arrays.mismatch(got, data)).isEqualTo(-1);
        }
    }

    @Test
    @Order(2)
    void socks5WithPasswordReachesTheTarget() throws Exception {
        Authenticator.setDefault(new Authenticator() {
            @Override
            protected PasswordAuthentication getPasswordAuthentication() {
                return new PasswordAuthentication("alice", "wonderland".toCharArray());
            }
        });
        try {
            Proxy proxy = new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.1", socksPort));
            try (Socket s = new Socket(proxy)) {
                s.connect(InetSocketAddress.createUnresolved("127.0.0.1", targets.echoPort()), 10_000);
                assertEchoes(s, 200_000);
            }
        } finally {
            Authenticator.setDefault(null);
        }
    }

    @Test
    @Order(3)
    void socks5RefusalsCarryTheRightReplyCode() throws Exception {
        // Raw bytes on the client side, to see the exact reply code (RFC 1928/1929).
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), socksPort)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            out.write(new byte[] {5, 1, 2}); // version 5, one method: username/password
            assertThat(readN(in, 2)).containsExactly(5, 2);
            out.write(authRequest("alice", "wonderland"));
            assertThat(readN(in, 2)).containsExactly(1, 0);
            out.write(new byte[] {5, 1, 0, 1, 127, 0, 0, 1, 0, DENIED_PORT}); // CONNECT 127.0.0.1:9
            byte[] reply = readN(in, 10);
            assertThat(reply[0]).isEqualTo((byte) 5);
            assertThat(reply[1]).as("connection not allowed by ruleset").isEqualTo((byte) 0x02);
        }
        entry.awaitGroup("WARN.*(stream \\d+ to 127\\.0\\.0\\.1:" + DENIED_PORT + " refused: NOT_ALLOWED)", WAIT);

        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), socksPort)) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            out.write(new byte[] {5, 1, 2});
            assertThat(readN(in, 2)).containsExactly(5, 2);
            out.write(authRequest("alice", "wrong"));
            assertThat(readN(in, 2)[1]).as("authentication failure").isNotEqualTo((byte) 0);
            assertThat(in.read()).isEqualTo(-1);
        }

        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), socksPort)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(new byte[] {5, 1, 0}); // only "no authentication": not acceptable here
            assertThat(readN(new DataInputStream(s.getInputStream()), 2)).containsExactly(5, 0xFF);
        }
    }

    @Test
    @Order(3)
    void pipelinedSocksAndConnectRequestsKeepTheirEarlyData() throws Exception {
        int port = targets.echoPort();
        byte[] early = random(3000, 3);
        // SOCKS5: greeting, authentication, CONNECT (domain name) and the first data in one write, before any reply.
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), socksPort)) {
            s.setSoTimeout(10_000);
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            all.write(new byte[] {5, 1, 2});
            all.write(authRequest("alice", "wonderland"));
            byte[] host = "127.0.0.1".getBytes(StandardCharsets.US_ASCII);
            all.write(new byte[] {5, 1, 0, 3, (byte) host.length});
            all.write(host);
            all.write(new byte[] {(byte) (port >> 8), (byte) port});
            all.write(early);
            s.getOutputStream().write(all.toByteArray());
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertThat(readN(in, 2)).containsExactly(5, 2);
            assertThat(readN(in, 2)).containsExactly(1, 0);
            byte[] reply = readN(in, 10);
            assertThat(reply[1]).as("succeeded").isZero();
            assertThat(readN(in, early.length)).isEqualTo(early);
        }
        // HTTP CONNECT: the request head and the first tunnelled bytes (as a TLS client hello would be) together.
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), connectPort)) {
            s.setSoTimeout(10_000);
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            all.write(("CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            all.write(early);
            s.getOutputStream().write(all.toByteArray());
            assertThat(readHead(s.getInputStream())).startsWith("HTTP/1.1 200 ");
            assertThat(readN(new DataInputStream(s.getInputStream()), early.length))
                    .isEqualTo(early);
        }
    }

    @Test
    @Order(4)
    void httpConnectTunnelsAndMapsRefusalsToStatuses() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), connectPort)) {
            s.setSoTimeout(10_000);
            String target = "127.0.0.1:" + targets.echoPort();
            s.getOutputStream()
                    .write(("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            assertThat(readHead(s.getInputStream())).startsWith("HTTP/1.1 200 ");
            assertEchoes(s, 300_000);
        }
        assertThat(connectStatus("127.0.0.1:" + DENIED_PORT)).startsWith("HTTP/1.1 403 ");
        int closedPort;
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = ss.getLocalPort();
        }
        assertThat(connectStatus("127.0.0.1:" + closedPort)).startsWith("HTTP/1.1 502 ");
    }

    @Test
    @Order(5)
    void healthIsReadyAndMetricsCarryTheContractNames() throws Exception {
        // Health and metrics are on the management interface; the entry opens no other HTTP port at all.
        assertThat(entry.lines())
                .anyMatch(l -> l.contains("Management interface listening on"))
                .noneMatch(l -> l.contains("Listening on: http"));
        HttpClient http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpResponse<String> ready = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + "/q/health/ready"))
                        .timeout(Duration.ofSeconds(10))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(ready.body()).contains("\"UP\"").contains("splitstream-session");
        HttpResponse<String> live = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + "/q/health/live"))
                        .timeout(Duration.ofSeconds(10))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(live.statusCode()).isEqualTo(200);
        await().atMost(WAIT).untilAsserted(() -> {
            String metrics = http.send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + "/q/metrics"))
                                    .timeout(Duration.ofSeconds(10))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .body();
            assertThat(metrics)
                    .contains("splitstream_entry_connected 1.0")
                    .contains("splitstream_entry_streams ")
                    .containsPattern("splitstream_entry_bytes_total\\{direction=\"up\"[^}]*\\} [1-9]")
                    .containsPattern("splitstream_entry_bytes_total\\{direction=\"down\"[^}]*\\} [1-9]")
                    .contains("splitstream_entry_reconnects_total")
                    .containsPattern("splitstream_entry_rtt_seconds [0-9]");
        });
    }

    @Test
    @Order(6)
    void slowReaderStopsTheFarSender() throws Exception {
        long before = targets.sourceSent.get();
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), sourceForward)) {
            s.setReceiveBufferSize(64 * 1024);
            // Read nothing: the local socket fills, the entry stops returning credit, the exit stops reading the
            // target, the target's socket fills. What was sent must level off far below the source's 256 MiB.
            long[] last = {-1};
            await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).until(() -> {
                long now = targets.sourceSent.get();
                boolean still = now == last[0] && now > before;
                last[0] = now;
                return still;
            });
            long sent = targets.sourceSent.get() - before;
            assertThat(sent).as("bytes the source got rid of while nobody read").isLessThan(64L * 1024 * 1024);
            // Reading resumes the flow.
            InputStream in = s.getInputStream();
            byte[] buf = new byte[64 * 1024];
            long read = 0;
            s.setSoTimeout(10_000);
            while (read < sent + 8L * 1024 * 1024) {
                int n = in.read(buf);
                assertThat(n).isPositive();
                read += n;
            }
            assertThat(targets.sourceSent.get() - before).isGreaterThan(sent);
        }
    }

    @Test
    @Order(6)
    void droppedWebSocketResumesWithoutLosingBytes() throws Exception {
        String id = entry.awaitGroup("session established ([0-9a-f]{32})", WAIT);
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echoForward)) {
            byte[] data = random(8 * 1024 * 1024, 7);
            CompletableFuture<byte[]> echoed = readAll(s.getInputStream());
            OutputStream out = s.getOutputStream();
            int chunk = 256 * 1024;
            CompletableFuture<Void> written = CompletableFuture.runAsync(() -> {
                try {
                    for (int off = 0; off < data.length; off += chunk) {
                        out.write(data, off, chunk);
                        if ((off == 2 * chunk || off == 20 * chunk) && !Boolean.getBoolean("it.noDrops")) {
                            exit.dropConnections();
                        }
                    }
                    s.shutdownOutput();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            byte[] got;
            try {
                got = echoed.get(30, TimeUnit.SECONDS);
                written.get(1, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("no complete echo; exit: " + exit.describe() + "\n" + entry.output(), e);
            }
            assertThat(got.length).isEqualTo(data.length);
            assertThat(MessageDigest.getInstance("SHA-256").digest(got))
                    .isEqualTo(MessageDigest.getInstance("SHA-256").digest(data));
        }
        assertThat(entry.awaitGroup("session resumed ([0-9a-f]{32})", WAIT)).isEqualTo(id);
        assertThat(entry.count("session established")).isEqualTo(1);
    }

    @Test
    @Order(7)
    void silentConnectionIsDroppedAfterThePingTimeoutAndResumed() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echoForward)) {
            s.setSoTimeout(20_000);
            assertEchoes(s, 10_000);
            long resumedBefore = entry.count("session resumed");
            exit.silenceConnections();
            assertEchoes(s, 100_000); // waits through the ping timeout, then flows on the resumed session
            entry.awaitGroup("(connection to the exit node lost \\(no frame for \\d+s\\))", WAIT);
            assertThat(entry.count("session resumed")).isGreaterThan(resumedBefore);
        }
    }

    @Test
    @Order(8)
    void lostSessionClosesItsConnectionsAndANewSessionServesNewOnes() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echoForward)) {
            s.setSoTimeout(15_000);
            assertEchoes(s, 10_000);
            exit.forgetSessions();
            await().atMost(WAIT).until(() -> entry.count("session established") == 2);
            // The old connection is closed (end of stream or reset), not left hanging.
            assertThatThrownBy(() -> {
                        int n = s.getInputStream().read();
                        if (n < 0) {
                            throw new IOException("end of stream");
                        }
                    })
                    .isInstanceOf(IOException.class);
        }
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echoForward)) {
            s.setSoTimeout(10_000);
            assertEchoes(s, 100_000);
        }
    }

    @Test
    @Order(9)
    void invalidConfigurationFailsAtStartNamingTheKey() throws Exception {
        try (EntryProcess bad = new EntryProcess(Map.of(
                "SPLITSTREAM_TOKEN",
                "x",
                "SPLITSTREAM_ENTRY_SERVER",
                "ws://127.0.0.1:1",
                "SPLITSTREAM_ENTRY_FORWARDS",
                "80=db"))) {
            assertThat(bad.awaitExit(WAIT)).isNotZero();
            assertThat(bad.output()).contains("splitstream.entry.forwards: '80=db' is not [bind:]localport=host:port");
        }
        try (EntryProcess bad = new EntryProcess(Map.of("SPLITSTREAM_TOKEN", "x"))) {
            assertThat(bad.awaitExit(WAIT)).isNotZero();
            assertThat(bad.output()).contains("splitstream.entry.server").contains("SPLITSTREAM_ENTRY_SERVER");
        }
    }

    @Test
    @Order(10)
    void wssThroughAnAuthenticatingProxyWithAnExtraCa() throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "it-tls"));
        Path p12 = dir.resolve("exit.p12");
        Path ca = dir.resolve("exit-ca.pem");
        Files.deleteIfExists(p12);
        keytool(
                "-genkeypair",
                "-alias",
                "exit",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                "CN=localhost",
                "-ext",
                "SAN=ip:127.0.0.1,dns:localhost",
                "-validity",
                "2",
                "-keystore",
                p12.toString(),
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
                "-keypass",
                "changeit");
        keytool(
                "-exportcert",
                "-rfc",
                "-alias",
                "exit",
                "-keystore",
                p12.toString(),
                "-storepass",
                "changeit",
                "-file",
                ca.toString());
        try (FakeExit tlsExit = new FakeExit(TOKEN, Set.of(), p12);
                TestProxy proxy = new TestProxy("bob", "pr0xy:pass")) {
            int tlsPort = tlsExit.start();
            try (EntryProcess viaProxy = new EntryProcess(Map.of(
                    "SPLITSTREAM_TOKEN", TOKEN,
                    "SPLITSTREAM_ENTRY_SERVER", "wss://127.0.0.1:" + tlsPort + "/prefix",
                    "SPLITSTREAM_ENTRY_CA_FILE", ca.toAbsolutePath().toString(),
                    "SPLITSTREAM_ENTRY_PROXY", "http://bob:pr0xy%3Apass@127.0.0.1:" + proxy.port(),
                    "SPLITSTREAM_ENTRY_FORWARDS", "0=127.0.0.1:" + targets.echoPort()))) {
                int forward = port(viaProxy.awaitGroup("forwarding 127\\.0\\.0\\.1:(\\d+) → .* via wss://", WAIT));
                viaProxy.awaitGroup("session established ([0-9a-f]{32}) transport=websocket", WAIT);
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), forward)) {
                    s.setSoTimeout(10_000);
                    assertEchoes(s, 500_000);
                }
                assertThat(proxy.tunnelled).contains("CONNECT 127.0.0.1:" + tlsPort + " HTTP/1.1");
                assertThat(proxy.refused).isEmpty();
                viaProxy.stop();
                assertThat(viaProxy.output()).doesNotContain("pr0xy").doesNotContain(TOKEN);
            }
            // A certificate from the trusted CA but for another name is refused too (host name verification).
            Path otherP12 = dir.resolve("other.p12");
            Path otherCa = dir.resolve("other-ca.pem");
            Files.deleteIfExists(otherP12);
            keytool(
                    "-genkeypair",
                    "-alias",
                    "exit",
                    "-keyalg",
                    "EC",
                    "-groupname",
                    "secp256r1",
                    "-dname",
                    "CN=exit.invalid",
                    "-ext",
                    "SAN=dns:exit.invalid",
                    "-validity",
                    "2",
                    "-keystore",
                    otherP12.toString(),
                    "-storetype",
                    "PKCS12",
                    "-storepass",
                    "changeit",
                    "-keypass",
                    "changeit");
            keytool(
                    "-exportcert",
                    "-rfc",
                    "-alias",
                    "exit",
                    "-keystore",
                    otherP12.toString(),
                    "-storepass",
                    "changeit",
                    "-file",
                    otherCa.toString());
            try (FakeExit misnamed = new FakeExit(TOKEN, Set.of(), otherP12)) {
                int misnamedPort = misnamed.start();
                try (EntryProcess verifying = new EntryProcess(Map.of(
                        "SPLITSTREAM_TOKEN",
                        TOKEN,
                        "SPLITSTREAM_ENTRY_SERVER",
                        "wss://127.0.0.1:" + misnamedPort,
                        "SPLITSTREAM_ENTRY_CA_FILE",
                        otherCa.toAbsolutePath().toString()))) {
                    assertThat(verifying.awaitGroup("(cannot connect to wss://127\\.0\\.0\\.1:\\d+.*)", WAIT))
                            .containsIgnoringCase("subject alternative name");
                    assertThat(verifying.count("session established")).isZero();
                }
            }
            // Without the CA the certificate is not trusted: no session, the handshake failure is logged.
            try (EntryProcess untrusting = new EntryProcess(
                    Map.of("SPLITSTREAM_TOKEN", TOKEN, "SPLITSTREAM_ENTRY_SERVER", "wss://127.0.0.1:" + tlsPort))) {
                assertThat(untrusting.awaitGroup("(cannot connect to wss://127\\.0\\.0\\.1:\\d+.*)", WAIT))
                        .containsIgnoringCase("certification path");
                assertThat(untrusting.count("session established")).isZero();
            }
        }
    }

    @Test
    @Order(11)
    void connectionsMadeBeforeTheExitIsUpWaitForTheSession() throws Exception {
        int exitPort;
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            exitPort = ss.getLocalPort();
        }
        try (EntryProcess early = new EntryProcess(Map.of(
                "SPLITSTREAM_TOKEN",
                TOKEN,
                "SPLITSTREAM_ENTRY_SERVER",
                "ws://127.0.0.1:" + exitPort,
                "SPLITSTREAM_ENTRY_FORWARDS",
                "0=127.0.0.1:" + targets.echoPort(),
                "SPLITSTREAM_ENTRY_RECONNECT_MAX",
                "500ms"))) {
            int forward = port(early.awaitGroup("forwarding 127\\.0\\.0\\.1:(\\d+) → ", WAIT));
            early.awaitGroup("(cannot connect to ws://127\\.0\\.0\\.1:" + exitPort + ")", WAIT);
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), forward);
                    FakeExit late = new FakeExit(TOKEN, Set.of())) {
                s.setSoTimeout(20_000);
                byte[] data = random(50_000, 11);
                s.getOutputStream().write(data); // accepted locally, held until a session exists
                late.start(exitPort);
                early.awaitGroup("(session established [0-9a-f]{32})", WAIT);
                assertThat(readN(new DataInputStream(s.getInputStream()), data.length))
                        .isEqualTo(data);
            }
        }
    }

    private static void keytool(String... args) throws Exception {
        String[] cmd = new String[args.length + 1];
        cmd[0] = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        System.arraycopy(args, 0, cmd, 1, args.length);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }

    // ---- helpers ----

    private String connectStatus(String target) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), connectPort)) {
            s.setSoTimeout(10_000);
            s.getOutputStream()
                    .write(("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            return readHead(s.getInputStream());
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (true) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.write(b);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                break;
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    private static void assertEchoes(Socket s, int size) throws Exception {
        byte[] data = random(size, size);
        s.getOutputStream().write(data);
        s.getOutputStream().flush();
        byte[] got = readN(new DataInputStream(s.getInputStream()), size);
        assertThat(Arrays.equals(got, data))
                .as("echoed bytes equal the sent ones")
                .isTrue();
    }

    private static byte[] readN(DataInputStream in, int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    private static CompletableFuture<byte[]> readAll(InputStream in) {
        CompletableFuture<byte[]> f = new CompletableFuture<>();
        Thread t = new Thread(
                () -> {
                    try {
                        f.complete(in.readAllBytes());
                    } catch (IOException e) {
                        f.completeExceptionally(e);
                    }
                },
                "test-reader");
        t.setDaemon(true);
        t.start();
        return f;
    }

    private static byte[] authRequest(String user, String password) {
        byte[] u = user.getBytes(StandardCharsets.UTF_8);
        byte[] p = password.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[3 + u.length + p.length];
        out[0] = 1;
        out[1] = (byte) u.length;
        System.arraycopy(u, 0, out, 2, u.length);
        out[2 + u.length] = (byte) p.length;
        System.arraycopy(p, 0, out, 3 + u.length, p.length);
        return out;
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
