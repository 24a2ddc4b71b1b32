package dev.splitstream.exit.config;

import dev.splitstream.bridge.AllowList;
import dev.splitstream.exit.token.ExposePolicy;
import dev.splitstream.protocol.Deflate;
import dev.splitstream.protocol.Limits;
import dev.splitstream.protocol.SecretFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The exit node's configuration after the cross-field checks; built once at start-up, failing fast with the property's
 * name.
 *
 * @param token single-tenant secret, if set
 * @param tokenId its token id
 * @param allow default allow-list (the single token's, and tokens-file entries without their own)
 * @param tokensFile tokens file, if set
 * @param limits protocol limits (max frame, max streams)
 * @param http the plain-HTTP transport's bounds
 */
public record ExitSettings(
        Optional<String> token,
        String tokenId,
        AllowList allow,
        Optional<Path> tokensFile,
        Duration tokensReloadInterval,
        int maxSessions,
        int maxSessionsPerToken,
        Limits limits,
        Duration handshakeTimeout,
        Duration idleTimeout,
        Duration dialTimeout,
        Duration resumeTimeout,
        Duration ackInterval,
        Duration pingInterval,
        Optional<Deflate> deflate,
        int maxConnectionsPerSource,
        Duration headerTimeout,
        Http http,
        Expose expose,
        boolean encryption,
        Optional<Path> tokenFile) {

    /**
     * A range of TCP ports.
     *
     * @param low first port
     * @param high last port (inclusive)
     */
    public record PortRange(int low, int high) {
        /** Parses {@code low-high} or a single port; the message says what is wrong. */
        public static PortRange parse(String text) {
            String t = text.trim();
            int dash = t.indexOf('-');
            try {
                int low = Integer.parseInt(dash < 0 ? t : t.substring(0, dash).trim());
                int high =
                        dash < 0 ? low : Integer.parseInt(t.substring(dash + 1).trim());
                if (low < 1 || high > 65535 || low > high) {
                    throw new IllegalArgumentException("'" + text + "' must be low-high within 1-65535, low <= high");
                }
                return new PortRange(low, high);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "' is not a port range like 10000-10999");
            }
        }

        @Override
        public String toString() {
            return low + "-" + high;
        }
    }

    /**
     * Expose (reverse tunnels).
     *
     * @param publicPorts range of public TCP ports, empty for none
     * @param publicHost bind address of public ports
     * @param lease how long a disconnected agent keeps its ports
     * @param queueTimeout how long a connection waits for an agent that is away
     * @param maxQueued default most connections waiting per agent
     */
    public record Expose(
            Optional<PortRange> publicPorts, String publicHost, Duration lease, Duration queueTimeout, int maxQueued) {
        /** The policy of a token without its own limits: the whole public range. */
        public ExposePolicy defaultPolicy(boolean allowed) {
            int low = publicPorts.map(PortRange::low).orElse(1);
            int high = publicPorts.map(PortRange::high).orElse(0);
            return new ExposePolicy(
                    allowed, low, high, Math.max(0, high - low + 1), ExposePolicy.DEFAULT_MAX_AGENTS, maxQueued);
        }
    }

    /**
     * Bounds of the plain-HTTP transport.
     *
     * @param maxBatch largest upstream POST body, bytes
     * @param streamMax longest life of a streamed downstream response
     * @param streamMaxBytes most bytes in one streamed downstream response
     * @param pollWait longest wait of a polling downstream request
     * @param pollMaxBytes most bytes in one poll answer
     * @param streamPingInterval keepalive PING interval on an idle streamed response
     * @param legTimeout a leg without requests for this long is detached
     * @param maxPendingHandshakes most handshakes between HELLO and PROOF, per pool (NEW; RESUME and JOIN)
     * @param maxPendingHandshakesPerSource most of them per source address, per pool
     * @param handshakeTimeout longest time between HELLO and PROOF
     */
    public record Http(
            int maxBatch,
            int upstreamInFlight,
            Duration streamMax,
            long streamMaxBytes,
            Duration pollWait,
            int pollMaxBytes,
            Duration streamPingInterval,
            Duration legTimeout,
            int maxPendingHandshakes,
            int maxPendingHandshakesPerSource,
            Duration handshakeTimeout) {}

    /** Validates {@code c}; the exception names the offending key. */
    public static ExitSettings from(SplitstreamConfig c) {
        SplitstreamConfig.Exit e = c.exit();
        Optional<String> token = c.token().filter(t -> !t.isEmpty());
        Optional<Path> tokensFile = e.tokensFile().filter(p -> !p.toString().isEmpty());
        Optional<Path> tokenFile = c.tokenFile().filter(p -> !p.toString().isEmpty());
        if (token.isPresent() && tokenFile.isPresent()) {
            throw new ConfigException(
                    "set either splitstream.token (SPLITSTREAM_TOKEN) or splitstream.token-file (SPLITSTREAM_TOKEN_FILE), not both");
        }
        if (tokenFile.isPresent()) {
            try {
                SecretFile.read(tokenFile.get());
            } catch (java.io.IOException ex) {
                throw new ConfigException("splitstream.token-file (SPLITSTREAM_TOKEN_FILE): " + ex.getMessage());
            }
        }
        if (token.isEmpty() && tokensFile.isEmpty() && tokenFile.isEmpty()) {
            throw new ConfigException(
                    "splitstream.token (SPLITSTREAM_TOKEN), splitstream.token-file"
                            + " (SPLITSTREAM_TOKEN_FILE) or splitstream.exit.tokens-file (SPLITSTREAM_EXIT_TOKENS_FILE) is required");
        }
        if (token.isPresent() && token.get().length() < 16) {
            throw new ConfigException("splitstream.token (SPLITSTREAM_TOKEN) must be at least 16 characters");
        }
        if (c.tokenId().isBlank() || c.tokenId().length() > 128) {
            throw new ConfigException("splitstream.token-id (SPLITSTREAM_TOKEN_ID) must be 1..128 characters");
        }
        AllowList allow;
        try {
            allow = AllowList.parse(e.allow().orElse(List.of()));
        } catch (IllegalArgumentException ex) {
            throw new ConfigException("splitstream.exit.allow (SPLITSTREAM_EXIT_ALLOW): bad entry " + ex.getMessage());
        }
        if (tokensFile.isPresent() && !Files.isRegularFile(tokensFile.get())) {
            throw new ConfigException("splitstream.exit.tokens-file (SPLITSTREAM_EXIT_TOKENS_FILE): " + tokensFile.get()
                    + " is not a readable file");
        }
        positive("splitstream.exit.max-sessions", e.maxSessions());
        positive("splitstream.exit.max-sessions-per-token", e.maxSessionsPerToken());
        positive("splitstream.exit.max-streams", e.maxStreams());
        long maxFrame = e.maxFrame().asLongValue();
        if (maxFrame < 1024 || maxFrame > Limits.HARD_MAX_PAYLOAD) {
            throw new ConfigException("splitstream.exit.max-frame must be between 1K and 16M, was "
                    + e.maxFrame().asLongValue());
        }
        positive("splitstream.exit.handshake-timeout", e.handshakeTimeout());
        positive("splitstream.exit.idle-timeout", e.idleTimeout());
        positive("splitstream.exit.dial-timeout", e.dialTimeout());
        positive("splitstream.exit.resume-timeout", e.resumeTimeout());
        positive("splitstream.exit.tokens-reload-interval", e.tokensReloadInterval());
        positive("splitstream.exit.ack-interval", e.ackInterval());
        positive("splitstream.exit.ping-interval", e.pingInterval());
        positive("splitstream.exit.max-connections-per-source", e.maxConnectionsPerSource());
        positive("splitstream.exit.header-timeout", e.headerTimeout());
        positive("splitstream.exit.upgrade-half-close-timeout", e.upgradeHalfCloseTimeout());
        // 1 MiB initial stream window (protocol default 256 KiB): on a loaded host the credit round trip is
        // milliseconds, and 256 KiB per round trip capped one upload at ~65 MiB/s; the auto-tuner, which compares
        // with the idle ping RTT, does not grow it. Still bounded: credit is returned only once the target took the
        // bytes.
        Limits limits = Limits.defaults()
                .withMaxPayload((int) maxFrame)
                .withMaxStreams(e.maxStreams())
                .withWindows(1024 * 1024, Limits.defaults().maxWindow());
        SplitstreamConfig.Http h = e.http();
        long maxBatch = h.maxBatch().asLongValue();
        if (maxBatch < maxFrame + 64 || maxBatch > 64L * 1024 * 1024) {
            throw new ConfigException(
                    "splitstream.exit.http.max-batch must be between max-frame plus 64 bytes and 64M, was " + maxBatch);
        }
        long pollMax = h.pollMaxBytes().asLongValue();
        if (pollMax < 1024 || pollMax > 64L * 1024 * 1024) {
            throw new ConfigException(
                    "splitstream.exit.http.poll-max-bytes must be between 1K and 64M, was " + pollMax);
        }
        if (h.streamMaxBytes().asLongValue() < 1024) {
            throw new ConfigException("splitstream.exit.http.stream-max-bytes must be at least 1K, was "
                    + h.streamMaxBytes().asLongValue());
        }
        positive("splitstream.exit.http.stream-max", h.streamMax());
        positive("splitstream.exit.http.poll-wait", h.pollWait());
        positive("splitstream.exit.http.stream-ping-interval", h.streamPingInterval());
        positive("splitstream.exit.http.leg-timeout", h.legTimeout());
        positive("splitstream.exit.http.max-pending-handshakes", h.maxPendingHandshakes());
        positive("splitstream.exit.http.max-pending-handshakes-per-source", h.maxPendingHandshakesPerSource());
        positive("splitstream.exit.http.handshake-timeout", h.handshakeTimeout());
        if (h.upstreamInFlight() < 1 || h.upstreamInFlight() > 16) {
            throw new ConfigException(
                    "splitstream.exit.http.upstream-in-flight must be between 1 and 16, was " + h.upstreamInFlight());
        }
        Http http = new Http(
                (int) maxBatch,
                h.upstreamInFlight(),
                h.streamMax(),
                h.streamMaxBytes().asLongValue(),
                h.pollWait(),
                (int) pollMax,
                h.streamPingInterval(),
                h.legTimeout(),
                h.maxPendingHandshakes(),
                h.maxPendingHandshakesPerSource(),
                h.handshakeTimeout());
        Optional<PortRange> publicPorts;
        try {
            publicPorts = e.publicPorts().filter(p -> !p.isBlank()).map(PortRange::parse);
        } catch (IllegalArgumentException ex) {
            throw new ConfigException(
                    "splitstream.exit.public-ports (SPLITSTREAM_EXIT_PUBLIC_PORTS): " + ex.getMessage());
        }
        if (e.publicHost().isBlank()) {
            throw new ConfigException("splitstream.exit.public-host (SPLITSTREAM_EXIT_PUBLIC_HOST) must not be empty");
        }
        positive("splitstream.exit.lease (SPLITSTREAM_EXIT_LEASE)", e.lease());
        positive("splitstream.exit.queue-timeout (SPLITSTREAM_EXIT_QUEUE_TIMEOUT)", e.queueTimeout());
        if (e.maxQueued() < 0) {
            throw new ConfigException("splitstream.exit.max-queued (SPLITSTREAM_EXIT_MAX_QUEUED) must not be negative");
        }
        Expose expose = new Expose(publicPorts, e.publicHost().trim(), e.lease(), e.queueTimeout(), e.maxQueued());
        return new ExitSettings(
                token,
                c.tokenId(),
                allow,
                tokensFile,
                e.tokensReloadInterval(),
                e.maxSessions(),
                e.maxSessionsPerToken(),
                limits,
                e.handshakeTimeout(),
                e.idleTimeout(),
                e.dialTimeout(),
                e.resumeTimeout(),
                e.ackInterval(),
                e.pingInterval(),
                compression(c),
                e.maxConnectionsPerSource(),
                e.headerTimeout(),
                http,
                expose,
                encryption(c.encryption()),
                tokenFile);
    }

    /** Parses SPLITSTREAM_ENCRYPTION: on or off. */
    static boolean encryption(String value) {
        return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "on" -> true;
            case "off" -> false;
            default ->
                throw new ConfigException(
                        "splitstream.encryption (SPLITSTREAM_ENCRYPTION): '" + value + "' is not on or off");
        };
    }

    private static Optional<Deflate> compression(SplitstreamConfig c) {
        String mode = c.compression().trim().toLowerCase(java.util.Locale.ROOT);
        if (mode.equals("off")) {
            return Optional.empty();
        }
        if (!mode.equals("auto")) {
            throw new ConfigException(
                    "splitstream.compression (SPLITSTREAM_COMPRESSION): '" + c.compression() + "' is not off or auto");
        }
        if (c.compressionLevel() < 1 || c.compressionLevel() > 9) {
            throw new ConfigException(
                    "splitstream.compression-level (SPLITSTREAM_COMPRESSION_LEVEL) must be 1 to 9, was "
                            + c.compressionLevel());
        }
        positive("splitstream.compression-threshold (SPLITSTREAM_COMPRESSION_THRESHOLD)", c.compressionThreshold());
        return Optional.of(new Deflate(c.compressionLevel(), c.compressionThreshold()));
    }

    private static void positive(String key, int value) {
        if (value < 1) {
            throw new ConfigException(key + " must be positive, was " + value);
        }
    }

    private static void positive(String key, Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new ConfigException(key + " must be a positive duration, was " + value);
        }
    }

    @Override
    public String toString() {
        return "ExitSettings[tokenId=" + tokenId + ", allow=" + allow + ", tokensFile=" + tokensFile + "]";
    }
}
