package dev.splitstream.entry.config;

import dev.splitstream.protocol.Deflate;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.SecretFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The entry node's configuration, parsed and checked: every problem is reported at start-up with the property's name.
 *
 * @param server the exit node's endpoint; on a split path the upstream leg's
 * @param downstream on a split path, the downstream leg's endpoint
 * @param deflate compression to offer, when {@code splitstream.compression=auto}
 * @param socksAuth user name and password the SOCKS5 listener requires, when configured
 * @param encryption whether frames are sealed end to end (SPLITSTREAM_ENCRYPTION)
 * @param tokenFile the file {@code token} was read from, polled for a new secret; empty when configured as a value
 */
public record EntrySettings(
        Secret token,
        String tokenId,
        ServerEndpoint server,
        Optional<ServerEndpoint> downstream,
        Optional<Deflate> deflate,
        List<ForwardSpec> forwards,
        Optional<ListenSpec> socks,
        Optional<SocksAuth> socksAuth,
        Optional<ListenSpec> httpConnect,
        Optional<ProxySpec> proxy,
        Optional<Path> caFile,
        Duration pingInterval,
        Duration pingTimeout,
        Duration reconnectMin,
        Duration reconnectMax,
        TransportMode transport,
        Duration probeTimeout,
        Path stateFile,
        Duration reprobeInterval,
        int httpMaxBatch,
        Optional<Agent> agent,
        boolean encryption,
        Optional<Path> tokenFile) {

    /**
     * Agent mode (expose).
     *
     * @param name the agent's name
     * @param services what it exposes
     * @param releaseOnExit free its leases on a normal stop
     * @param routeToken the route token of its first HTTP service, empty for none
     * @param connectTimeout longest wait for a connection to one of its services
     */
    public record Agent(
            String name,
            List<ExposeSpec> services,
            boolean releaseOnExit,
            Optional<Secret> routeToken,
            Optional<java.util.regex.Pattern> httpHosts,
            java.time.Duration connectTimeout) {
        public Agent(String name, List<ExposeSpec> services, boolean releaseOnExit) {
            this(name, services, releaseOnExit, Optional.empty(), Optional.empty(), java.time.Duration.ofSeconds(10));
        }
    }

    public static final String HTTP_HOSTS = "splitstream.entry.http-hosts";

    public static final String SERVICE_CONNECT_TIMEOUT = "splitstream.entry.service-connect-timeout";

    public static final String ROUTE_TOKEN = "splitstream.entry.route-token";

    public static final String EXPOSE = "splitstream.entry.expose";
    public static final String AGENT = "splitstream.entry.agent";

    /** {@code splitstream.entry.transport}. */
    public enum TransportMode {
        WEBSOCKET,
        HTTP,
        AUTO
    }

    public static final String TOKEN = "splitstream.token";
    public static final String TOKEN_ID = "splitstream.token-id";
    public static final String TOKEN_FILE = "splitstream.token-file";
    public static final String ENCRYPTION = "splitstream.encryption";
    public static final String SERVER = "splitstream.entry.server";
    public static final String UPSTREAM = "splitstream.entry.upstream";
    public static final String DOWNSTREAM = "splitstream.entry.downstream";
    public static final String COMPRESSION = "splitstream.compression";
    public static final String COMPRESSION_THRESHOLD = "splitstream.compression-threshold";
    public static final String COMPRESSION_LEVEL = "splitstream.compression-level";
    public static final String TRANSPORT = "splitstream.entry.transport";
    public static final String PROBE_TIMEOUT = "splitstream.entry.probe-timeout";
    public static final String STATE_FILE = "splitstream.entry.state-file";
    public static final String REPROBE_INTERVAL = "splitstream.entry.reprobe-interval";
    public static final String HTTP_MAX_BATCH = "splitstream.entry.http.max-batch";
    public static final String FORWARDS = "splitstream.entry.forwards";
    public static final String SOCKS = "splitstream.entry.socks";
    public static final String SOCKS_USERNAME = "splitstream.entry.socks-username";
    public static final String SOCKS_PASSWORD = "splitstream.entry.socks-password";
    public static final String HTTP_CONNECT = "splitstream.entry.http-connect";
    public static final String PROXY = "splitstream.entry.proxy";
    public static final String CA_FILE = "splitstream.entry.ca-file";
    public static final String PING_INTERVAL = "splitstream.entry.ping-interval";
    public static final String PING_TIMEOUT = "splitstream.entry.ping-timeout";
    public static final String RECONNECT_MIN = "splitstream.entry.reconnect-min";
    public static final String RECONNECT_MAX = "splitstream.entry.reconnect-max";

    /** SOCKS5 user name/password (RFC 1929). The password never appears in {@link #toString()}. */
    public record SocksAuth(String username, String password) {
        @Override
        public String toString() {
            return "SocksAuth[" + username + ", <redacted>]";
        }
    }

    @Override
    public String toString() {
        return "EntrySettings[server=" + server.display()
                + downstream.map(d -> ", downstream=" + d.display()).orElse("") + ", tokenId=" + tokenId + ", forwards="
                + forwards
                + ", socks=" + socks + ", httpConnect=" + httpConnect + ", proxy=" + proxy + "]";
    }

    /**
     * Parses and checks the configuration.
     *
     * @param env the process environment (proxy variables)
     * @throws ConfigException naming the first property at fault
     */
    public static EntrySettings from(SplitstreamConfig config, Map<String, String> env) {
        SplitstreamConfig.Entry e = config.entry();
        Optional<String> serverText = e.server().filter(s -> !s.isBlank());
        Optional<String> upText = e.upstream().filter(s -> !s.isBlank());
        Optional<String> downText = e.downstream().filter(s -> !s.isBlank());
        if (serverText.isPresent() && (upText.isPresent() || downText.isPresent())) {
            throw new ConfigException(
                    SERVER,
                    "set either " + SERVER + " or " + UPSTREAM + " and " + DOWNSTREAM + " (split path), not both");
        }
        if (upText.isPresent() != downText.isPresent()) {
            throw new ConfigException(
                    upText.isPresent() ? DOWNSTREAM : UPSTREAM,
                    "a split path needs both " + UPSTREAM + " and " + DOWNSTREAM);
        }
        ServerEndpoint server;
        Optional<ServerEndpoint> downstream = Optional.empty();
        if (upText.isPresent()) {
            server = ServerEndpoint.parse(UPSTREAM, upText.get());
            downstream = Optional.of(ServerEndpoint.parse(DOWNSTREAM, downText.get()));
        } else {
            server = ServerEndpoint.parse(
                    SERVER,
                    serverText.orElseThrow(
                            () -> new ConfigException(
                                    SERVER,
                                    "missing: set SPLITSTREAM_ENTRY_SERVER to the exit node's URL, e.g. ws://exit.example:8080")));
        }
        Optional<Deflate> deflate = compression(config);
        Optional<String> tokenValue = config.token().filter(s -> !s.isEmpty());
        Optional<Path> tokenFile = config.tokenFile().filter(p -> !p.toString().isEmpty());
        if (tokenValue.isPresent() && tokenFile.isPresent()) {
            throw new ConfigException(TOKEN, "set either " + TOKEN + " or " + TOKEN_FILE + ", not both");
        }
        Secret token;
        if (tokenFile.isPresent()) {
            try {
                token = SecretFile.read(tokenFile.get());
            } catch (java.io.IOException ex) {
                throw new ConfigException(TOKEN_FILE, ex.getMessage());
            }
        } else {
            token = Secret.ofText(tokenValue.orElseThrow(() -> new ConfigException(
                    TOKEN,
                    "missing: set SPLITSTREAM_TOKEN (or SPLITSTREAM_TOKEN_FILE) to the secret shared with the exit"
                            + " node")));
        }
        boolean encryption =
                switch (config.encryption().trim().toLowerCase(java.util.Locale.ROOT)) {
                    case "on" -> true;
                    case "off" -> false;
                    default -> throw new ConfigException(ENCRYPTION, "'" + config.encryption() + "' is not on or off");
                };
        String tokenId = config.tokenId().trim();
        if (tokenId.isEmpty()) {
            throw new ConfigException(TOKEN_ID, "must not be empty");
        }

        List<ForwardSpec> forwards =
                e.forwards().map(s -> ForwardSpec.parseList(FORWARDS, s)).orElse(List.of());
        Optional<ListenSpec> socks = e.socks().filter(s -> !s.isBlank()).map(s -> listen(SOCKS, s));
        Optional<ListenSpec> httpConnect =
                e.httpConnect().filter(s -> !s.isBlank()).map(s -> listen(HTTP_CONNECT, s));
        checkDistinctPorts(forwards, socks, httpConnect);

        Optional<String> socksUser = e.socksUsername().filter(s -> !s.isEmpty());
        Optional<String> socksPass = e.socksPassword().filter(s -> !s.isEmpty());
        if (socksUser.isPresent() != socksPass.isPresent()) {
            throw new ConfigException(
                    socksUser.isPresent() ? SOCKS_PASSWORD : SOCKS_USERNAME,
                    "set both " + SOCKS_USERNAME + " and " + SOCKS_PASSWORD + ", or neither");
        }
        if (socksUser.isPresent()
                && (socksUser.get().length() > 255 || socksPass.get().length() > 255)) {
            throw new ConfigException(SOCKS_USERNAME, "user name and password are limited to 255 bytes (RFC 1929)");
        }
        Optional<SocksAuth> socksAuth = socksUser.map(u -> new SocksAuth(u, socksPass.get()));

        Optional<ProxySpec> proxy = ProxySpec.select(PROXY, e.proxy(), env, server.tls(), server.host());

        Optional<Path> caFile = e.caFile().filter(s -> !s.isBlank()).map(Path::of);
        if (caFile.isPresent() && !Files.isReadable(caFile.get())) {
            throw new ConfigException(CA_FILE, "cannot read '" + caFile.get() + "'");
        }

        positive(PING_INTERVAL, e.pingInterval());
        positive(PING_TIMEOUT, e.pingTimeout());
        positive(RECONNECT_MIN, e.reconnectMin());
        positive(RECONNECT_MAX, e.reconnectMax());
        if (e.pingTimeout().compareTo(e.pingInterval()) <= 0) {
            throw new ConfigException(
                    PING_TIMEOUT,
                    e.pingTimeout() + " must be longer than " + PING_INTERVAL + " (" + e.pingInterval() + ")");
        }
        if (e.reconnectMax().compareTo(e.reconnectMin()) < 0) {
            throw new ConfigException(
                    RECONNECT_MAX,
                    e.reconnectMax() + " must not be shorter than " + RECONNECT_MIN + " (" + e.reconnectMin() + ")");
        }
        TransportMode transport;
        try {
            transport = TransportMode.valueOf(e.transport().trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException ex) {
            throw new ConfigException(TRANSPORT, "'" + e.transport() + "' is not websocket, http or auto");
        }
        positive(PROBE_TIMEOUT, e.probeTimeout());
        positive(REPROBE_INTERVAL, e.reprobeInterval());
        int maxBatch = e.http().maxBatch();
        if (maxBatch < 64 * 1024 || maxBatch > 1024 * 1024) {
            throw new ConfigException(HTTP_MAX_BATCH, "must be 65536 to 1048576 bytes, was " + maxBatch);
        }
        Path stateFile = Path.of(e.stateFile()
                .filter(f -> !f.isBlank())
                .orElse(System.getProperty("user.home") + "/.splitstream/transports.json"));
        List<ExposeSpec> exposed =
                e.expose().map(s -> ExposeSpec.parseList(EXPOSE, s)).orElse(List.of());
        String agentName = e.agent().map(String::trim).filter(s -> !s.isEmpty()).orElse(tokenId);
        if (!dev.splitstream.protocol.FrameCodec.isAgentName(agentName)) {
            throw new ConfigException(
                    e.agent().isPresent() ? AGENT : TOKEN_ID,
                    "agent name '" + agentName + "' must be 1..64 of A-Z, a-z, 0-9, '.', '_' and '-'"
                            + (e.agent().isPresent() ? "" : " (it defaults to the token id; set " + AGENT + ")"));
        }
        Optional<String> routeToken = e.routeToken().map(String::trim).filter(s -> !s.isEmpty());
        if (routeToken.isPresent()) {
            int n = routeToken.get().length();
            if (n < dev.splitstream.protocol.Frame.Expose.MIN_ROUTE_TOKEN
                    || n > dev.splitstream.protocol.Frame.Expose.MAX_ROUTE_TOKEN
                    || !routeToken.get().matches("[A-Za-z0-9._~-]+")) {
                throw new ConfigException(
                        ROUTE_TOKEN,
                        "must be " + dev.splitstream.protocol.Frame.Expose.MIN_ROUTE_TOKEN + " to "
                                + dev.splitstream.protocol.Frame.Expose.MAX_ROUTE_TOKEN
                                + " characters of A-Z a-z 0-9 . _ ~ - (it was " + n + " characters)");
            }
            if (exposed.stream().noneMatch(s -> s.kind() == dev.splitstream.protocol.Frame.ServiceKind.HTTP)) {
                throw new ConfigException(ROUTE_TOKEN, "is set but " + EXPOSE + " lists no HTTP service");
            }
        }
        Optional<java.util.regex.Pattern> httpHosts;
        try {
            httpHosts = e.httpHosts().filter(h -> !h.isBlank()).map(java.util.regex.Pattern::compile);
        } catch (java.util.regex.PatternSyntaxException ex) {
            throw new ConfigException(HTTP_HOSTS, "is not a valid regular expression: " + ex.getDescription());
        }
        java.time.Duration connectTimeout = e.serviceConnectTimeout();
        if (connectTimeout.isNegative() || connectTimeout.toMillis() < 1) {
            throw new ConfigException(SERVICE_CONNECT_TIMEOUT, "must be at least 1ms, was " + connectTimeout);
        }
        Optional<Agent> agent = exposed.isEmpty()
                ? Optional.empty()
                : Optional.of(new Agent(
                        agentName,
                        List.copyOf(exposed),
                        e.releaseOnExit(),
                        routeToken.map(Secret::ofText),
                        httpHosts,
                        connectTimeout));
        return new EntrySettings(
                token,
                tokenId,
                server,
                downstream,
                deflate,
                List.copyOf(forwards),
                socks,
                socksAuth,
                httpConnect,
                proxy,
                caFile,
                e.pingInterval(),
                e.pingTimeout(),
                e.reconnectMin(),
                e.reconnectMax(),
                transport,
                e.probeTimeout(),
                stateFile,
                e.reprobeInterval(),
                maxBatch,
                agent,
                encryption,
                tokenFile);
    }

    private static Optional<Deflate> compression(SplitstreamConfig config) {
        String mode = config.compression().trim().toLowerCase(java.util.Locale.ROOT);
        if (mode.equals("off")) {
            return Optional.empty();
        }
        if (!mode.equals("auto")) {
            throw new ConfigException(COMPRESSION, "'" + config.compression() + "' is not off or auto");
        }
        if (config.compressionLevel() < 1 || config.compressionLevel() > 9) {
            throw new ConfigException(COMPRESSION_LEVEL, "must be 1 to 9, was " + config.compressionLevel());
        }
        if (config.compressionThreshold() < 1) {
            throw new ConfigException(COMPRESSION_THRESHOLD, "must be positive, was " + config.compressionThreshold());
        }
        return Optional.of(new Deflate(config.compressionLevel(), config.compressionThreshold()));
    }

    /** True on a split path (separate upstream and downstream legs). */
    public boolean split() {
        return downstream.isPresent();
    }

    private static ListenSpec listen(String key, String text) {
        try {
            return ListenSpec.parse(text);
        } catch (IllegalArgumentException ex) {
            throw new ConfigException(key, "'" + text.trim() + "' is not [bind:]port (" + ex.getMessage() + ")");
        }
    }

    private static void positive(String key, Duration d) {
        if (d.isNegative() || d.isZero()) {
            throw new ConfigException(key, "must be positive, was " + d);
        }
    }

    private static void checkDistinctPorts(
            List<ForwardSpec> forwards, Optional<ListenSpec> socks, Optional<ListenSpec> httpConnect) {
        Map<String, String> seen = new HashMap<>();
        List<Map.Entry<String, ListenSpec>> all = new ArrayList<>();
        forwards.forEach(f -> all.add(Map.entry(FORWARDS, f.listen())));
        socks.ifPresent(s -> all.add(Map.entry(SOCKS, s)));
        httpConnect.ifPresent(s -> all.add(Map.entry(HTTP_CONNECT, s)));
        for (Map.Entry<String, ListenSpec> entry : all) {
            ListenSpec l = entry.getValue();
            if (l.port() == 0) {
                continue;
            }
            String where = l.display(l.port());
            String before = seen.putIfAbsent(where, entry.getKey());
            if (before != null) {
                throw new ConfigException(entry.getKey(), "port " + where + " is already used by " + before);
            }
        }
    }
}
