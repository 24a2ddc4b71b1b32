package dev.splitstream.exit.config;

import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** All configuration of the exit node, under the prefix {@code splitstream} (environment {@code SPLITSTREAM_...}). */
@ConfigMapping(prefix = "splitstream")
public interface SplitstreamConfig {

    /**
     * Shared secret of a single-tenant tunnel (SPLITSTREAM_TOKEN). Required unless {@code splitstream.exit.tokens-file}
     * is set. Never logged.
     */
    Optional<String> token();

    /**
     * File holding the shared secret instead of {@code splitstream.token} (SPLITSTREAM_TOKEN_FILE), e.g. a mounted
     * Kubernetes Secret. Polled every {@code splitstream.exit.tokens-reload-interval}; a new secret is used for new
     * handshakes, live sessions are kept. Never logged.
     */
    Optional<Path> tokenFile();

    /**
     * End-to-end frame protection (SPLITSTREAM_ENCRYPTION): {@code on} seals every session frame with AES-256-GCM
     * under keys derived from the handshake, so a TLS-terminating proxy or CDN can neither read nor alter them;
     * {@code off} sends frames as they are. Both nodes must agree. Default on.
     */
    @WithDefault("on")
    String encryption();

    /** Token id under which {@code splitstream.token} is presented by the entry node (SPLITSTREAM_TOKEN_ID). Default "default". */
    @WithDefault("default")
    String tokenId();

    /**
     * Per-frame DEFLATE of DATA payloads (SPLITSTREAM_COMPRESSION): {@code auto} agrees to it when an entry node offers
     * it and then compresses payloads that shrink; {@code off} never agrees. Default auto.
     */
    @WithDefault("auto")
    String compression();

    /** Smallest DATA payload worth compressing, bytes (SPLITSTREAM_COMPRESSION_THRESHOLD). Default 512. */
    @WithDefault("512")
    int compressionThreshold();

    /** zlib level for compressed payloads, 1 (fastest) to 9 (SPLITSTREAM_COMPRESSION_LEVEL). Default 1. */
    @WithDefault("1")
    int compressionLevel();

    /** The node-wide buffer budget ({@code splitstream.buffer.*}). */
    Buffer buffer();

    /** Bounds the stream bytes the node holds in memory, whatever clients and peers do. */
    interface Buffer {
        /**
         * Most bytes of stream data the node commits at once (read from sockets and not yet acknowledged by the peer,
         * or received and not yet written to their socket); bytes held stay below twice this. When it is spent,
         * streams over their share stop reading and new streams are refused. Default: a quarter of the maximum heap or of
         * the maximum direct memory (where bytes queued to sockets wait), whichever is smaller; at most half of either.
         */
        Optional<MemorySize> budget();

        /**
         * Bytes of the budget each stream is guaranteed (and the most read from a socket at once); budget / share is the
         * most streams the node holds at once. Default 16K.
         */
        @WithDefault("16K")
        MemorySize streamShare();

        /**
         * A stream that holds buffered bytes but moved none for this long (its reader stopped, or its client left
         * while its bytes wait unread) is reset while more than half the budget is committed. Default 30s.
         */
        @WithDefault("30s")
        java.time.Duration stallTimeout();
    }

    /** Exit node settings. */
    Exit exit();

    /** Settings of the exit node. */
    interface Exit {
        /**
         * Targets the single token ({@code splitstream.token}) may reach, and the default for tokens-file entries
         * without their own list: comma list of {@code host:port}, {@code host:*}, {@code cidr:port}, {@code cidr:*}
         * (IPv6 in brackets, e.g. {@code [::1]:22}, {@code [fd00::/8]:*}). Empty by default: nothing is reachable.
         */
        Optional<List<String>> allow();

        /**
         * JSON or YAML file of tokens (id, secret, allow list, limits) for several tenants
         * (SPLITSTREAM_EXIT_TOKENS_FILE). Re-read when it changes; live sessions are kept. No default.
         */
        Optional<Path> tokensFile();

        /** How often the tokens file's modification time is checked. Default 2s. */
        @WithDefault("2s")
        Duration tokensReloadInterval();

        /** Most sessions held at once (attached or waiting for a resume); more are refused with LIMIT_EXCEEDED. Default 1000. */
        @WithDefault("1000")
        int maxSessions();

        /**
         * Most sessions of one token held at once (attached or waiting for a resume); a tokens-file entry may set its own
         * ({@code maxSessions}). At the limit, a new login closes the token's longest-detached session, if it has one,
         * else it is refused with LIMIT_EXCEEDED. Default 100.
         */
        @WithDefault("100")
        int maxSessionsPerToken();

        /** Most streams open at once on one session; a token may set a lower limit. Default 1024. */
        @WithDefault("1024")
        int maxStreams();

        /** Largest frame payload accepted or sent, bytes (1K to 16M). Default 64K. */
        @WithDefault("64K")
        MemorySize maxFrame();

        /** Time a new WebSocket connection has to complete the handshake before it is closed. Default 10s. */
        @WithDefault("10s")
        Duration handshakeTimeout();

        /** A session that receives no frame for this long is closed with TIMEOUT. Default 300s. */
        @WithDefault("300s")
        Duration idleTimeout();

        /** Time allowed to connect to a target (TCP connect), after name resolution. Default 10s. */
        @WithDefault("10s")
        Duration dialTimeout();

        /** How long a session whose connection dropped is kept for a RESUME before it and its streams close. Default 120s. */
        @WithDefault("120s")
        Duration resumeTimeout();

        /** Interval of the per-session timer that sends pending acknowledgements and checks the idle timeout. Default 150ms. */
        @WithDefault("150ms")
        Duration ackInterval();

        /** Interval between keepalive pings the exit node sends (measures RTT). Default 30s. */
        @WithDefault("30s")
        Duration pingInterval();

        /**
         * Most TCP connections one source address may hold open on the HTTP port at once; more are closed as soon as
         * they are accepted. Behind a reverse proxy every connection comes from the proxy: each session takes one
         * (WebSocket) or a few (HTTP), so keep it above the sessions one proxy carries. Default 1024.
         */
        @WithDefault("1024")
        int maxConnectionsPerSource();

        /**
         * Time a new connection on the HTTP port has to send its first complete request head (request line and headers)
         * before it is closed (slowloris). Default 10s.
         */
        @WithDefault("10s")
        Duration headerTimeout();

        /**
         * Where the node keeps its sessions' ownership, replicas and audit log (SPLITSTREAM_EXIT_REGISTRY): {@code memory}
         * (a single node, nothing shared) or {@code postgres} (replicas sharing the database of
         * QUARKUS_DATASOURCE_JDBC_URL/USERNAME/PASSWORD). Default memory.
         */
        @WithDefault("memory")
        String registry();

        /**
         * How the other replicas reach this one, {@code http://host:port} of this node's HTTP port
         * (SPLITSTREAM_EXIT_REPLICA_URL). Required with registry=postgres. No default.
         */
        Optional<String> replicaUrl();

        /**
         * Secret shared by the replicas that authenticates legs and requests one replica relays to another
         * (SPLITSTREAM_EXIT_CLUSTER_SECRET), at least 16 characters. Required with registry=postgres. Never logged.
         */
        Optional<String> clusterSecret();

        /** This replica's id in the registry, {@code [a-z0-9-]}, at most 32 characters. Default: random at each start. */
        Optional<String> replicaId();

        /** Interval of this replica's heartbeat in the registry (postgres). Default 2s. */
        @WithDefault("2s")
        Duration heartbeatInterval();

        /** A replica whose heartbeat is older than this counts as offline, and so do its sessions. Default 10s. */
        @WithDefault("10s")
        Duration replicaOfflineAfter();

        /** How long rows of the audit log are kept (postgres; in memory the last 1000 are kept). Default 30d. */
        @WithDefault("30d")
        Duration auditRetention();

        /**
         * For tests only: a registry write transaction that records opened sessions sleeps this long in the database
         * ({@code pg_sleep}) before it writes them, as a slow database would. Default 0s (none).
         */
        @WithDefault("0s")
        Duration registryTestWriteDelay();

        /** The plain-HTTP transport under {@code /splitstream/v1/http/}. */
        Http http();

        /**
         * Public TCP ports for exposed services, {@code low-high} (SPLITSTREAM_EXIT_PUBLIC_PORTS, e.g. 10000-10999).
         * Unset: no public TCP ports.
         */
        Optional<String> publicPorts();

        /** Bind address of public ports (SPLITSTREAM_EXIT_PUBLIC_HOST). Default 0.0.0.0. */
        @WithDefault("0.0.0.0")
        String publicHost();

        /**
         * How long a disconnected agent keeps its public ports (and names): the same agent reconnecting within it gets
         * them back at once; nobody else can take them meanwhile (SPLITSTREAM_EXIT_LEASE). Default 10m.
         */
        @WithDefault("10m")
        Duration lease();

        /**
         * How long a connection to an exposed service waits for its agent to come back before it is refused
         * (SPLITSTREAM_EXIT_QUEUE_TIMEOUT). Default 30s.
         */
        @WithDefault("30s")
        Duration queueTimeout();

        /**
         * Most connections waiting for one agent while it reconnects; a token may set its own (maxQueued)
         * (SPLITSTREAM_EXIT_MAX_QUEUED). Default 20.
         */
        @WithDefault("20")
        int maxQueued();

        /**
         * Domain of host routes: a request for {@code <service>.<domain>} on the HTTP port reaches the HTTP service of
         * that name (SPLITSTREAM_EXIT_HTTP_DOMAIN). Unset: no host routes.
         */
        Optional<String> httpDomain();

        /**
         * Bearer token of the Hub API under {@code /hub/v1/} on the HTTP port (SPLITSTREAM_EXIT_HUB_TOKEN). Unset: the
         * Hub is off. Never logged.
         */
        Optional<String> hubToken();

        /** The web dashboard on the management interface ({@code /dashboard/}). */
        Dashboard dashboard();

        /** Keep-alive connections from HTTP routes to agents' HTTP services ({@code splitstream.exit.route-pool.*}). */
        RoutePool routePool();

        /**
         * Longest wait for the head of an agent's HTTP service's response, from the end of the request (its last body
         * byte sent) to the response's status line and headers, on routes and the Hub (nginx's
         * {@code proxy_read_timeout} for the first read): past it the client gets 504 and the connection to the service
         * is closed, never reused (SPLITSTREAM_EXIT_ROUTE_RESPONSE_TIMEOUT). Default 60s.
         */
        @WithDefault("60s")
        Duration routeResponseTimeout();

        /**
         * Longest silence between two reads of a response body from an agent's HTTP service once its head came (nginx's
         * {@code proxy_read_timeout}): past it the client's connection and the stream are closed. Server-sent event
         * streams and long polls must send something (an SSE comment line as a heartbeat) more often than this; time
         * spent waiting for a slow client to take the bytes does not count. Not applied after a {@code 101} upgrade
         * ({@code upgrade-half-close-timeout} bounds those) (SPLITSTREAM_EXIT_ROUTE_READ_TIMEOUT). Default 120s.
         */
        @WithDefault("120s")
        Duration routeReadTimeout();

        /**
         * Longest time an agent's HTTP service may leave the request body unread (nginx's {@code proxy_send_timeout}):
         * while the stream to the service is full (the service stopped reading, so the agent stopped taking bytes),
         * the client's upload waits; past this the client gets 504 (or, once the response began, its connection is
         * closed) and the connection to the service is closed, never reused. Time the client itself takes to send
         * does not count (SPLITSTREAM_EXIT_ROUTE_SEND_TIMEOUT). Default 60s.
         */
        @WithDefault("60s")
        Duration routeSendTimeout();

        /**
         * How long an upgraded route connection (a WebSocket or other HTTP upgrade to an agent's service) may stay
         * half-closed: after one side's FIN the other direction keeps flowing for at most this long, then both are
         * closed (SPLITSTREAM_EXIT_UPGRADE_HALF_CLOSE_TIMEOUT). Default 60s.
         */
        @WithDefault("60s")
        Duration upgradeHalfCloseTimeout();
    }

    /**
     * Route requests reuse streams to an agent's HTTP service (each one persistent HTTP/1.1 connection on the agent's
     * side) instead of opening a stream, and a TCP connection to the service, per request.
     */
    interface RoutePool {
        /**
         * Most idle connections kept per agent and service (SPLITSTREAM_EXIT_ROUTE_POOL_MAX_IDLE); 0 turns reuse off
         * (one stream per request, {@code Connection: close} towards the service). Default 32.
         */
        @WithDefault("32")
        int maxIdle();

        /** Most idle connections kept in all (SPLITSTREAM_EXIT_ROUTE_POOL_MAX_IDLE_TOTAL). Default 512. */
        @WithDefault("512")
        int maxIdleTotal();

        /**
         * How long an idle connection is kept (SPLITSTREAM_EXIT_ROUTE_POOL_IDLE_TIMEOUT); keep it below the services'
         * own keep-alive timeouts (Node.js: 5 s, nginx: 75 s). Default 4s.
         */
        @WithDefault("4s")
        Duration idleTimeout();
    }

    /** The web dashboard ({@code splitstream.exit.dashboard.*}). */
    interface Dashboard {
        /** Basic user name of the dashboard. Default {@code admin}. */
        @WithDefault("admin")
        String user();

        /**
         * Basic password of the dashboard (at least 12 characters); never logged. Unset: the dashboard is off (its
         * paths answer 404).
         */
        Optional<String> password();
    }

    /** Settings of the plain-HTTP transport (for paths that carry no WebSocket). */
    interface Http {
        /** Largest body of one {@code POST .../up} (frames back to back); larger ones are refused with 413. Default 1M. */
        @WithDefault("1M")
        MemorySize maxBatch();

        /**
         * Most {@code POST .../up} requests of one leg in flight at once (numbered; the exit puts them back in order,
         * holding at most this many minus one bodies per leg). Announced to the entry in the handshake; 1 asks entries
         * for one POST at a time. 1 to 16. Default 4.
         */
        @WithDefault("4")
        int upstreamInFlight();

        /** Longest a {@code mode=stream} downstream response stays open before the exit ends it. Default 30s. */
        @WithDefault("30s")
        Duration streamMax();

        /** Most bytes one {@code mode=stream} downstream response carries before the exit ends it. Default 8M. */
        @WithDefault("8M")
        MemorySize streamMaxBytes();

        /** Longest a {@code mode=poll} downstream request waits for a frame before it is answered empty. Default 20s. */
        @WithDefault("20s")
        Duration pollWait();

        /** Most bytes of frames in one {@code mode=poll} answer (at least one frame is always sent). Default 1M. */
        @WithDefault("1M")
        MemorySize pollMaxBytes();

        /** Interval of the keepalive PING frames on an idle {@code mode=stream} response. Default 5s. */
        @WithDefault("5s")
        Duration streamPingInterval();

        /**
         * A leg that sees no request for this long is detached; its session then waits {@code resume-timeout} for a
         * RESUME or JOIN. Default 60s.
         */
        @WithDefault("60s")
        Duration legTimeout();

        /**
         * Most HTTP handshakes between HELLO and PROOF at once, for NEW sessions; more are refused with LIMIT_EXCEEDED
         * (503). RESUME and JOIN handshakes (which must name a live session) have a pool of the same size of their own,
         * so a flood of HELLOs cannot lock existing sessions out. Default 1000.
         */
        @WithDefault("1000")
        int maxPendingHandshakes();

        /**
         * Most pending HTTP handshakes of one source address in each pool; more are refused with LIMIT_EXCEEDED (503).
         * Default 16.
         */
        @WithDefault("16")
        int maxPendingHandshakesPerSource();

        /** Time between an HTTP handshake's HELLO and its PROOF before the handshake is dropped. Default 5s. */
        @WithDefault("5s")
        Duration handshakeTimeout();
    }
}
