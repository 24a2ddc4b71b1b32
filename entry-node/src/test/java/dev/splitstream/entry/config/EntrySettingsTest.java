package dev.splitstream.entry.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.quarkus.runtime.configuration.DurationConverter;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EntrySettingsTest {

    private static EntrySettings settings(Map<String, String> props, Map<String, String> env) {
        Map<String, String> all = new HashMap<>();
        all.put("splitstream.token", "s3cret-token");
        all.put("splitstream.entry.server", "ws://127.0.0.1:8080");
        all.putAll(props);
        all.values().removeIf(v -> v == null);
        SplitstreamConfig config = new SmallRyeConfigBuilder()
                .withMapping(SplitstreamConfig.class)
                // Quarkus's converter, so "25s" parses as it does in the application.
                .withConverter(Duration.class, 100, new DurationConverter())
                .withConverter(
                        io.quarkus.runtime.configuration.MemorySize.class,
                        100,
                        new io.quarkus.runtime.configuration.MemorySizeConverter())
                .withSources(new PropertiesConfigSource(all, "test", 100))
                .build()
                .getConfigMapping(SplitstreamConfig.class);
        return EntrySettings.from(config, env);
    }

    private static EntrySettings settings(Map<String, String> props) {
        return settings(props, Map.of());
    }

    @Test
    void defaultsAreTheDocumentedOnes() {
        EntrySettings s = settings(Map.of());
        assertThat(s.tokenId()).isEqualTo("default");
        assertThat(s.pingInterval()).isEqualTo(Duration.ofSeconds(25));
        assertThat(s.pingTimeout()).isEqualTo(Duration.ofSeconds(60));
        assertThat(s.reconnectMin()).isEqualTo(Duration.ofMillis(250));
        assertThat(s.reconnectMax()).isEqualTo(Duration.ofSeconds(10));
        assertThat(s.forwards()).isEmpty();
        assertThat(s.socks()).isEmpty();
        assertThat(s.proxy()).isEmpty();
        assertThat(s.server().path()).isEqualTo("/splitstream/v1/ws");
    }

    @Test
    void parsesForwardsWithBindAddressesAndIpv6() {
        EntrySettings s = settings(Map.of(
                "splitstream.entry.forwards",
                "8001=db:5432, 0.0.0.0:2222=10.0.0.5:22,[::1]:8443=[fd00::1]:443,0=127.0.0.1:9"));
        assertThat(s.forwards())
                .containsExactly(
                        new ForwardSpec(new ListenSpec("127.0.0.1", 8001), new HostPort("db", 5432)),
                        new ForwardSpec(new ListenSpec("0.0.0.0", 2222), new HostPort("10.0.0.5", 22)),
                        new ForwardSpec(new ListenSpec("::1", 8443), new HostPort("fd00::1", 443)),
                        new ForwardSpec(new ListenSpec("127.0.0.1", 0), new HostPort("127.0.0.1", 9)));
        assertThat(s.forwards().get(2).target()).hasToString("[fd00::1]:443");
    }

    @Test
    void badForwardNamesTheKeyAndTheSyntax() {
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.forwards", "80=db")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("splitstream.entry.forwards: '80=db' is not [bind:]localport=host:port");
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.forwards", "8001:db:5432")))
                .hasMessageStartingWith("splitstream.entry.forwards: '8001:db:5432' is not [bind:]localport=host:port");
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.forwards", "8001=db:70000")))
                .hasMessageContaining("port 70000 out of range 1-65535");
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.forwards", "8001=fd00::1:443")))
                .hasMessageContaining("brackets");
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.forwards", "x=db:1")))
                .hasMessageContaining("'x=db:1'");
    }

    @Test
    void routeTokenIsValidatedAndNeverPrinted() {
        EntrySettings s = settings(Map.of(
                "splitstream.entry.expose", "web=http://127.0.0.1:3000",
                "splitstream.entry.route-token", "route-token-0123456789"));
        assertThat(s.agent().orElseThrow().routeToken()).isPresent();
        assertThat(s.agent().orElseThrow().toString()).doesNotContain("route-token-0123456789");
        assertThatThrownBy(() -> settings(Map.of(
                        "splitstream.entry.expose", "web=http://127.0.0.1:3000",
                        "splitstream.entry.route-token", "short")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("splitstream.entry.route-token: must be 16 to 128 characters")
                .hasMessageNotContaining("short");
        assertThatThrownBy(() -> settings(Map.of(
                        "splitstream.entry.expose", "ssh=127.0.0.1:22",
                        "splitstream.entry.route-token", "route-token-0123456789")))
                .hasMessageContaining("lists no HTTP service");
    }

    @Test
    void serviceConnectTimeoutDefaultsToTenSecondsAndMustBePositive() {
        assertThat(settings(Map.of("splitstream.entry.expose", "web=http://127.0.0.1:3000"))
                        .agent()
                        .orElseThrow()
                        .connectTimeout())
                .isEqualTo(java.time.Duration.ofSeconds(10));
        assertThat(settings(Map.of(
                                "splitstream.entry.expose", "web=http://127.0.0.1:3000",
                                "splitstream.entry.service-connect-timeout", "1500ms"))
                        .agent()
                        .orElseThrow()
                        .connectTimeout())
                .isEqualTo(java.time.Duration.ofMillis(1500));
        assertThatThrownBy(() -> settings(Map.of(
                        "splitstream.entry.expose", "web=http://127.0.0.1:3000",
                        "splitstream.entry.service-connect-timeout", "0s")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("splitstream.entry.service-connect-timeout: must be at least 1ms");
    }

    @Test
    void socksAndHttpConnectTakeBindAndPort() {
        EntrySettings s =
                settings(Map.of("splitstream.entry.socks", "1080", "splitstream.entry.http-connect", "0.0.0.0:8888"));
        assertThat(s.socks()).contains(new ListenSpec("127.0.0.1", 1080));
        assertThat(s.httpConnect()).contains(new ListenSpec("0.0.0.0", 8888));
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.socks", "socks")))
                .hasMessageStartingWith("splitstream.entry.socks: 'socks' is not [bind:]port");
    }

    @Test
    void samePortTwiceIsRefused() {
        assertThatThrownBy(() ->
                        settings(Map.of("splitstream.entry.forwards", "1080=db:1", "splitstream.entry.socks", "1080")))
                .hasMessageStartingWith("splitstream.entry.socks: port 127.0.0.1:1080 is already used by "
                        + "splitstream.entry.forwards");
    }

    @Test
    void missingServerNamesTheKeyAndTheVariable() {
        Map<String, String> props = new HashMap<>();
        props.put("splitstream.entry.server", null);
        assertThatThrownBy(() -> settings(props))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("splitstream.entry.server")
                .hasMessageContaining("SPLITSTREAM_ENTRY_SERVER");
    }

    @Test
    void missingTokenNamesTheVariable() {
        Map<String, String> props = new HashMap<>();
        props.put("splitstream.token", null);
        assertThatThrownBy(() -> settings(props))
                .hasMessageStartingWith("splitstream.token: missing")
                .hasMessageContaining("SPLITSTREAM_TOKEN");
    }

    @Test
    void serverUrlKeepsItsPathPrefixAndHidesCredentials() {
        ServerEndpoint e = settings(Map.of("splitstream.entry.server", "wss://bob:pw@exit.example/tunnel/"))
                .server();
        assertThat(e.tls()).isTrue();
        assertThat(e.port()).isEqualTo(443);
        assertThat(e.path()).isEqualTo("/tunnel/splitstream/v1/ws");
        assertThat(e.display()).isEqualTo("wss://exit.example/tunnel");
        assertThat(e.basicUser()).contains("bob");
        assertThat(e.toString()).doesNotContain("pw");

        ServerEndpoint v6 =
                settings(Map.of("splitstream.entry.server", "ws://[::1]:8080")).server();
        assertThat(v6.host()).isEqualTo("::1");
        assertThat(v6.display()).isEqualTo("ws://[::1]:8080");

        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.server", "ftp://x")))
                .hasMessageStartingWith("splitstream.entry.server: 'ftp://x' must start with ws://");
    }

    @Test
    void configuredProxyWinsAndKeepsCredentialsOutOfText() {
        EntrySettings s = settings(
                Map.of("splitstream.entry.proxy", "http://alice:p%40ss@proxy.corp:3128"),
                Map.of("http_proxy", "http://other:9"));
        ProxySpec p = s.proxy().orElseThrow();
        assertThat(p.host()).isEqualTo("proxy.corp");
        assertThat(p.port()).isEqualTo(3128);
        assertThat(p.username()).contains("alice");
        assertThat(p.password()).contains("p@ss");
        assertThat(p.toString()).doesNotContain("p@ss").doesNotContain("alice");
        assertThat(p.display()).isEqualTo("http://proxy.corp:3128");
        assertThat(s.toString()).doesNotContain("p@ss").doesNotContain("s3cret");
    }

    @Test
    void proxyFromEnvironmentPerSchemeExceptLoopbackAndNoProxy() {
        Map<String, String> env = Map.of(
                "https_proxy", "http://proxy:3128", "http_proxy", "proxy80:8080", "no_proxy", ".internal,exit.lan");
        assertThat(settings(Map.of("splitstream.entry.server", "wss://exit.example"), env)
                        .proxy()
                        .map(ProxySpec::display))
                .contains("http://proxy:3128");
        assertThat(settings(Map.of("splitstream.entry.server", "ws://exit.example"), env)
                        .proxy()
                        .map(ProxySpec::display))
                .contains("http://proxy80:8080");
        assertThat(settings(Map.of("splitstream.entry.server", "ws://127.0.0.1:8080"), env)
                        .proxy())
                .isEmpty();
        assertThat(settings(Map.of("splitstream.entry.server", "wss://a.internal"), env)
                        .proxy())
                .isEmpty();
        assertThat(settings(Map.of("splitstream.entry.server", "wss://exit.lan:443"), env)
                        .proxy())
                .isEmpty();
        assertThat(settings(
                                Map.of(
                                        "splitstream.entry.server",
                                        "wss://exit.example",
                                        "splitstream.entry.proxy",
                                        "none"),
                                env)
                        .proxy())
                .isEmpty();
    }

    @Test
    void badProxyNamesItsSourceWithoutCredentials() {
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.proxy", "https://u:secretpw@proxy:443")))
                .hasMessageStartingWith("splitstream.entry.proxy: proxy scheme 'https' is not supported")
                .hasMessageNotContaining("secretpw");
        assertThatThrownBy(() -> settings(
                        Map.of("splitstream.entry.server", "wss://exit.example"),
                        Map.of("HTTPS_PROXY", "socks5://proxy:1080")))
                .hasMessageStartingWith("HTTPS_PROXY: ");
    }

    @Test
    void socksCredentialsComeInPairs() {
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.socks-username", "u")))
                .hasMessageStartingWith("splitstream.entry.socks-password: set both");
        EntrySettings s =
                settings(Map.of("splitstream.entry.socks-username", "u", "splitstream.entry.socks-password", "pw123"));
        assertThat(s.socksAuth().orElseThrow().toString()).doesNotContain("pw123");
    }

    @Test
    void timingRulesNameTheKey() {
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.ping-timeout", "10s")))
                .hasMessageStartingWith("splitstream.entry.ping-timeout: PT10S must be longer than");
        assertThatThrownBy(() -> settings(
                        Map.of("splitstream.entry.reconnect-min", "5s", "splitstream.entry.reconnect-max", "1s")))
                .hasMessageStartingWith("splitstream.entry.reconnect-max:");
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.ca-file", "/nonexistent/ca.pem")))
                .hasMessageStartingWith("splitstream.entry.ca-file: cannot read");
    }

    @Test
    void blankForwardEntriesAreSkipped() {
        assertThat(settings(Map.of("splitstream.entry.forwards", "8001=db:5432,,"))
                        .forwards())
                .hasSize(1);
        assertThat(ForwardSpec.parseList("k", " ")).isEqualTo(List.of());
    }

    @Test
    void splitPathTakesUpstreamAndDownstreamInsteadOfServer() {
        Map<String, String> props = new HashMap<>();
        props.put("splitstream.entry.server", null);
        props.put("splitstream.entry.upstream", "wss://up.example/edge");
        props.put("splitstream.entry.downstream", "https://down.example");
        EntrySettings s = settings(props);
        assertThat(s.split()).isTrue();
        assertThat(s.server().host()).isEqualTo("up.example");
        assertThat(s.server().path()).isEqualTo("/edge/splitstream/v1/ws");
        assertThat(s.server().httpPath("up")).isEqualTo("/edge/splitstream/v1/http/up");
        assertThat(s.downstream().orElseThrow().host()).isEqualTo("down.example");
        assertThat(s.downstream().orElseThrow().tls()).isTrue();
    }

    @Test
    void serverTogetherWithASplitPathNamesTheKeys() {
        assertThatThrownBy(() -> settings(
                        Map.of("splitstream.entry.upstream", "ws://a:1", "splitstream.entry.downstream", "ws://b:1")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("splitstream.entry.server: set either splitstream.entry.server or "
                        + "splitstream.entry.upstream and splitstream.entry.downstream");
        Map<String, String> onlyUp = new HashMap<>();
        onlyUp.put("splitstream.entry.server", null);
        onlyUp.put("splitstream.entry.upstream", "ws://a:1");
        assertThatThrownBy(() -> settings(onlyUp))
                .hasMessageStartingWith("splitstream.entry.downstream: a split path needs both "
                        + "splitstream.entry.upstream and splitstream.entry.downstream");
        Map<String, String> onlyDown = new HashMap<>();
        onlyDown.put("splitstream.entry.server", null);
        onlyDown.put("splitstream.entry.downstream", "ws://a:1");
        assertThatThrownBy(() -> settings(onlyDown)).hasMessageStartingWith("splitstream.entry.upstream: ");
    }

    @Test
    void transportAndCompressionDefaultsAreTheDocumentedOnes() {
        EntrySettings s = settings(Map.of());
        assertThat(s.split()).isFalse();
        assertThat(s.transport()).isEqualTo(EntrySettings.TransportMode.AUTO);
        assertThat(s.probeTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(s.reprobeInterval()).isEqualTo(Duration.ofMinutes(10));
        assertThat(s.httpMaxBatch()).isEqualTo(256 * 1024);
        assertThat(s.stateFile().toString()).endsWith(".splitstream/transports.json");
        assertThat(s.deflate()).contains(new dev.splitstream.protocol.Deflate(1, 512));
        assertThat(settings(Map.of("splitstream.compression", "off")).deflate()).isEmpty();
        assertThat(settings(Map.of("splitstream.entry.transport", "HTTP")).transport())
                .isEqualTo(EntrySettings.TransportMode.HTTP);
    }

    @Test
    void badTransportAndCompressionValuesNameTheKey() {
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.transport", "carrier-pigeon")))
                .hasMessageStartingWith("splitstream.entry.transport: 'carrier-pigeon' is not websocket, http or auto");
        assertThatThrownBy(() -> settings(Map.of("splitstream.compression", "max")))
                .hasMessageStartingWith("splitstream.compression: 'max' is not off or auto");
        assertThatThrownBy(() -> settings(Map.of("splitstream.compression-level", "10")))
                .hasMessageStartingWith("splitstream.compression-level: must be 1 to 9");
        assertThatThrownBy(() -> settings(Map.of("splitstream.entry.http.max-batch", "100")))
                .hasMessageStartingWith("splitstream.entry.http.max-batch: must be 65536 to 1048576");
    }
}
