package dev.splitstream.entry.config;

import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Optional;

/**
 * The entry node's configuration: everything under {@code splitstream.} (environment variables
 * {@code SPLITSTREAM_...}). Raw values; {@link EntrySettings#from} parses and checks them at start-up.
 */
@ConfigMapping(prefix = "splitstream")
public interface SplitstreamConfig {

    /** Shared secret of the tunnel (SPLITSTREAM_TOKEN). Required unless {@code token-file} is set; never logged. */
    Optional<String> token();

    /**
     * File holding the shared secret instead of {@code splitstream.token} (SPLITSTREAM_TOKEN_FILE), e.g. a mounted
     * Kubernetes Secret. Polled every 2 s; a new secret is used from the next handshake on. Never logged.
     */
    Optional<java.nio.file.Path> tokenFile();

    /**
     * End-to-end frame protection (SPLITSTREAM_ENCRYPTION): {@code on} seals every session frame with AES-256-GCM
     * under keys derived from the handshake, so a TLS-terminating proxy or CDN can neither read nor alter them;
     * {@code off} sends frames as they are. Both nodes must agree. Default on.
     */
    @WithDefault("on")
    String encryption();

    /** Which token the secret belongs to, sent in clear in the handshake (SPLITSTREAM_TOKEN_ID). Default {@code default}. */
    @WithDefault("default")
    String tokenId();

    /**
     * Per-frame DEFLATE of DATA payloads: {@code auto} offers it in the handshake (used when the exit node agrees),
     * {@code off} never compresses. Default {@code auto}.
     */
    @WithDefault("auto")
    String compression();

    /** Smallest DATA payload worth compressing, in bytes. Default 512. */
    @WithDefault("512")
    int compressionThreshold();

    /** zlib compression level, 1 (fastest) to 9 (smallest). Default 1. */
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

    /** Entry node settings. */
    Entry entry();

    /** Settings of the entry node ({@code splitstream.entry.*}). */
    interface Entry {

        /**
         * Base URL of the exit node: {@code ws://host[:port][/prefix]} or {@code wss://...}. The entry appends
         * {@code /splitstream/v1/ws}. Required.
         */
        Optional<String> server();

        /**
         * Split path: base URL (like {@code server}) of the leg that carries frames from the entry to the exit node.
         * Set together with {@code downstream}, instead of {@code server}. Unset by default.
         */
        Optional<String> upstream();

        /**
         * Split path: base URL (like {@code server}) of the leg that carries frames from the exit node to the entry.
         * Set together with {@code upstream}, instead of {@code server}. Unset by default.
         */
        Optional<String> downstream();

        /**
         * Fixed forwards: comma list of {@code [bind:]localport=host:port}; bind defaults to 127.0.0.1; IPv6 addresses
         * in brackets. Local port 0 picks a free port.
         */
        Optional<String> forwards();

        /**
         * Agent mode: services to expose through the exit node, comma list of {@code name=host:port} (TCP; the exit
         * assigns a public port), {@code name:PORT=host:port} (asks for public port PORT), {@code name=http://host:port}
         * or {@code name=https://host:port} (HTTP services). The exit may open streams only to these. Off when unset.
         */
        Optional<String> expose();

        /** The agent's name, listed by the exit's Hub and part of its port leases. Default: the token id. */
        Optional<String> agent();

        /**
         * Agent mode: the route token, at least 16 characters; HTTP clients reach the agent's first HTTP service on
         * the exit's HTTP port with {@code /_token/<t>/...} or {@code X-Token: <t>}. Never logged. No token routes
         * when unset.
         */
        Optional<String> routeToken();

        /**
         * Agent mode: a regular expression that an HTTP request's {@code X-Host: scheme://host[:port]} must match (as a
         * whole) for the agent to send that request to another target than its HTTP service. Unset: X-Host is refused
         * (403).
         */
        Optional<String> httpHosts();

        /**
         * Agent mode: longest wait for the TCP connection (and TLS handshake, for https:// services) to one of the
         * agent's services or an X-Host target (nginx's {@code proxy_connect_timeout}). A service that does not answer
         * within it (down, firewalled, its accept backlog full) gets the stream reset, and the client of the route
         * or the Hub a 504. Default 10s.
         */
        @io.smallrye.config.WithDefault("10s")
        java.time.Duration serviceConnectTimeout();

        /**
         * On a normal stop, tell the exit node to free this agent's public ports at once instead of keeping them for
         * the lease time (for an agent that is not coming back). Default false.
         */
        @WithDefault("false")
        boolean releaseOnExit();

        /** SOCKS5 listener: {@code [bind:]port}; bind defaults to 127.0.0.1. Off when unset. */
        Optional<String> socks();

        /** SOCKS5 user name (RFC 1929 authentication); set together with socks-password. No authentication when unset. */
        Optional<String> socksUsername();

        /** SOCKS5 password (RFC 1929); never logged. */
        Optional<String> socksPassword();

        /** HTTP CONNECT proxy listener: {@code [bind:]port}; bind defaults to 127.0.0.1. Off when unset. */
        Optional<String> httpConnect();

        /**
         * Outbound HTTP proxy for the connection to the exit node: {@code http://[user:pass@]host:port}, or
         * {@code none} to ignore the proxy environment variables. When unset, https_proxy/HTTPS_PROXY (wss://) or
         * http_proxy/HTTP_PROXY (ws://) apply, except for hosts in no_proxy and loopback addresses.
         */
        Optional<String> proxy();

        /** PEM file with extra CA certificates trusted for wss:// (in addition to the JVM's default CAs). */
        Optional<String> caFile();

        /** Interval between keepalive pings to the exit node; keep it below the idle limit of proxies on the path. */
        @WithDefault("25s")
        Duration pingInterval();

        /** Drop the connection and reconnect when no frame arrived from the exit node for this long. */
        @WithDefault("60s")
        Duration pingTimeout();

        /** First delay before reconnecting after the connection dropped; doubles per failed attempt. */
        @WithDefault("250ms")
        Duration reconnectMin();

        /** Longest delay between reconnect attempts. */
        @WithDefault("10s")
        Duration reconnectMax();

        /**
         * How to reach the exit node: {@code websocket}, {@code http} (plain HTTP requests, for paths that carry no
         * WebSocket) or {@code auto} (WebSocket, else HTTP streaming, else HTTP polling; remembered per server). Default
         * {@code auto}.
         */
        @WithDefault("auto")
        String transport();

        /** With transport=auto: the WebSocket handshake must complete within this time, else HTTP is used. Default 5s. */
        @WithDefault("5s")
        Duration probeTimeout();

        /**
         * With transport=auto: JSON file remembering which transport worked per server URL. Default
         * {@code ${user.home}/.splitstream/transports.json}.
         */
        Optional<String> stateFile();

        /** With transport=auto on HTTP: how often to try the WebSocket again (the session moves over). Default 10m. */
        @WithDefault("10m")
        Duration reprobeInterval();

        /**
         * Terminal status screen: {@code auto} shows a live screen when standard input and output are a terminal (log
         * lines then appear inside it), {@code off} always prints plain log lines. Default {@code auto}.
         */
        @WithDefault("auto")
        String status();

        /** Plain-HTTP transport settings. */
        Http http();
    }

    /** Plain-HTTP transport settings ({@code splitstream.entry.http.*}). */
    interface Http {
        /** Largest upstream POST body, in bytes (frames back to back). Default 262144 (256 KiB). */
        @WithDefault("262144")
        int maxBatch();
    }
}
