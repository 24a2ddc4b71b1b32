package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.ResetCode;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.PfxOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The TLS dialer against a real TLS server on loopback (a self-signed certificate for {@code localhost}, made by the
 * JDK's keytool): trusted
 * only when its CA is given, and only for the name the certificate carries; the socket it hands over carries plain
 * bytes.
 */
class TlsDialerTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private Vertx vertx;
    private Path dir;
    private PfxOptions cert;
    private NetServer server;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        dir = Files.createTempDirectory("tls-dialer");
        Path store = dir.resolve("localhost.p12");
        Process keytool = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "keytool")
                                .toString(),
                        "-genkeypair",
                        "-alias",
                        "localhost",
                        "-keyalg",
                        "EC",
                        "-dname",
                        "CN=localhost",
                        "-ext",
                        "SAN=dns:localhost",
                        "-validity",
                        "2",
                        "-storetype",
                        "PKCS12",
                        "-keystore",
                        store.toString(),
                        "-storepass",
                        "changeit")
                .redirectErrorStream(true)
                .start();
        String out = new String(keytool.getInputStream().readAllBytes());
        assertThat(keytool.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(keytool.exitValue()).as(out).isZero();
        // One PKCS12 file is the server's key and, as a trust store, the client's only trusted certificate.
        cert = new PfxOptions().setPath(store.toString()).setPassword("changeit");
        server = vertx.createNetServer(new NetServerOptions()
                        .setHost("127.0.0.1")
                        .setPort(0)
                        .setSsl(true)
                        .setKeyCertOptions(cert))
                // An echo server that prefixes what it got with whether it came over TLS. It never speaks first:
                // the TLS dialer is for HTTPS services, where the client does (bytes a server sent in the same read
                // as the handshake's end would reach a socket that has no handler yet in this test).
                .connectHandler(s -> s.handler(b -> s.write("tls=" + s.isSsl() + ":" + b)));
        server.listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void tearDown() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    private NetSocket dial(Dialer dialer, String host) throws Exception {
        int port = server.actualPort();
        CompletableFuture<NetSocket> out = new CompletableFuture<>();
        vertx.runOnContext(v -> dialer.dial(host, port, AllowList.parse(List.of(host + ":" + port)), "test")
                .onComplete(ar -> {
                    if (ar.succeeded()) {
                        out.complete(ar.result());
                    } else {
                        out.completeExceptionally(ar.cause());
                    }
                }));
        return out.get(15, TimeUnit.SECONDS);
    }

    @Test
    void trustedCertificateGivesAPlainByteSocket() throws Exception {
        Dialer dialer = Dialer.tls(vertx, TIMEOUT, cert);
        NetSocket socket = dial(dialer, "localhost");
        assertThat(socket.isSsl()).isTrue();
        CompletableFuture<String> seen = new CompletableFuture<>();
        StringBuilder got = new StringBuilder();
        vertx.runOnContext(v -> {
            socket.handler(b -> {
                got.append(b.toString());
                if (got.toString().contains("ping")) {
                    seen.complete(got.toString());
                }
            });
            SocketBridge.reading(socket, true);
            socket.write(Buffer.buffer("ping"));
        });
        assertThat(seen.get(10, TimeUnit.SECONDS)).isEqualTo("tls=true:ping");
        dialer.close();
    }

    @Test
    void untrustedCertificateIsRefusedWithAClearReason() {
        // The JVM's default CAs do not include a self-signed certificate.
        Dialer dialer = Dialer.tls(vertx, TIMEOUT, null);
        assertRefused(dialer, "localhost", "TLS with localhost:" + server.actualPort() + " (127.0.0.1:");
        dialer.close();
    }

    @Test
    void aCertificateForAnotherNameIsRefused() {
        // Trusted CA, but the certificate names localhost and the target is the IP literal.
        Dialer dialer = Dialer.tls(vertx, TIMEOUT, cert);
        assertRefused(dialer, "127.0.0.1", "TLS with 127.0.0.1:" + server.actualPort() + " failed");
        dialer.close();
    }

    @Test
    void aPlainDialerStillSpeaksPlainTcp() throws Exception {
        Dialer dialer = new Dialer(vertx, TIMEOUT);
        NetSocket socket = dial(dialer, "127.0.0.1");
        assertThat(socket.isSsl()).isFalse();
        dialer.close();
    }

    private void assertRefused(Dialer dialer, String host, String messageStart) {
        try {
            dial(dialer, host);
            throw new AssertionError("the dial succeeded");
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(DialException.class);
            DialException d = (DialException) e.getCause();
            assertThat(d.code()).isEqualTo(ResetCode.CONNECT_FAILED);
            assertThat(d.getMessage()).startsWith(messageStart).contains("failed");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
