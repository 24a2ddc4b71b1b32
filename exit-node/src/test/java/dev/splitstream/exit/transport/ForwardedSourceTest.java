package dev.splitstream.exit.transport;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.ClientHandshake;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.Secret;
import io.netty.buffer.Unpooled;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import jakarta.inject.Inject;
import java.net.URL;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Per-source limits behind a proxy: the exit counts the client address a trusted proxy reports
 * ({@code quarkus.http.proxy.*}), and only a trusted proxy's. Pending HTTP handshakes (HELLO without PROOF) are limited
 * to 2 per source here; requests come from 127.0.0.2 (the trusted proxy) and 127.0.0.1 (anyone else).
 */
@QuarkusTest
@TestProfile(ForwardedSourceTest.BehindAProxy.class)
class ForwardedSourceTest {
    public static class BehindAProxy implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "quarkus.http.proxy.proxy-address-forwarding", "true",
                    "quarkus.http.proxy.allow-x-forwarded", "true",
                    "quarkus.http.proxy.trusted-proxies", "127.0.0.2",
                    "splitstream.exit.http.max-pending-handshakes-per-source", "2",
                    "splitstream.exit.http.handshake-timeout", "30s",
                    "splitstream.encryption", "off");
        }
    }

    private final FrameCodec codec = new FrameCodec(Limits.defaults());

    @Inject
    Vertx vertx;

    @TestHTTPResource("/")
    URL base;

    @Test
    void aTrustedProxysClientsEachHaveTheirOwnShare() throws Exception {
        assertThat(hellos("127.0.0.2", "198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"))
                .containsExactly(200, 200, 200, 200);
    }

    @Test
    void oneClientBehindTheTrustedProxyIsLimited() throws Exception {
        assertThat(hellos("127.0.0.2", "203.0.113.7", "203.0.113.7", "203.0.113.7"))
                .containsExactly(200, 200, 503);
    }

    @Test
    void forwardedHeadersFromAnyoneElseAreIgnored() throws Exception {
        // 127.0.0.1 is not a trusted proxy: its made-up client addresses do not buy it more handshakes
        assertThat(hellos("127.0.0.1", "192.0.2.1", "192.0.2.2", "192.0.2.3")).containsExactly(200, 200, 503);
    }

    /** One HELLO (a valid one, never followed by its PROOF) per forwarded address, sent from {@code local}. */
    private List<Integer> hellos(String local, String... forwardedFor) throws Exception {
        HttpClient client = vertx.createHttpClient(new HttpClientOptions()
                .setLocalAddress(local)
                .setDefaultHost("127.0.0.1")
                .setDefaultPort(base.getPort()));
        try {
            List<Integer> statuses = new ArrayList<>();
            for (String client1 : forwardedFor) {
                ClientHandshake hs = new ClientHandshake(
                        "test",
                        Secret.ofText("test-secret-0123456789-DO-NOT-LOG"),
                        Frame.Intent.NEW,
                        null,
                        0,
                        0,
                        Clock.systemUTC(),
                        new SecureRandom());
                Buffer hello = Buffer.buffer(Unpooled.wrappedBuffer(codec.encode(hs.hello())));
                statuses.add(client.request(new RequestOptions()
                                .setMethod(HttpMethod.POST)
                                .setURI("/splitstream/v1/http/handshake")
                                .putHeader("X-Forwarded-For", client1))
                        .compose(req ->
                                req.send(hello).compose(resp -> resp.body().map(b -> resp.statusCode())))
                        .toCompletionStage()
                        .toCompletableFuture()
                        .get(15, TimeUnit.SECONDS));
            }
            return statuses;
        } finally {
            client.close();
        }
    }
}
