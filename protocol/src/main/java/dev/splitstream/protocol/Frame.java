package dev.splitstream.protocol;

import java.nio.ByteBuffer;

/**
 * One protocol frame. Every frame type is a record with an explicit numeric type code ({@link FrameType}); only
 * {@link FrameCodec} turns frames into bytes and back.
 *
 * <p>Frames after the handshake that change session state ({@link Open}, {@link Accept}, {@link Data},
 * {@link WindowUpdate}, {@link Reset}) are <em>reliable</em>: the session numbers them and keeps them until the
 * peer acknowledges them, so they survive a transport reconnect. {@link Ack}, {@link Ping}, {@link Pong} and
 * {@link Close} are not numbered (their sequence number on the wire is 0).
 */
public sealed interface Frame
        permits Frame.Hello,
                Frame.Challenge,
                Frame.Proof,
                Frame.Welcome,
                Frame.Open,
                Frame.Accept,
                Frame.Data,
                Frame.WindowUpdate,
                Frame.Ack,
                Frame.Reset,
                Frame.Ping,
                Frame.Pong,
                Frame.Close,
                Frame.Expose,
                Frame.ExposeResult,
                Frame.RouteLog,
                Frame.RouteLogs {

    /** The type code written on the wire. */
    FrameType type();

    /** Stream the frame belongs to; 0 for session-level frames. */
    default int streamId() {
        return 0;
    }

    /** Session sequence number of a reliable frame; 0 for unnumbered frames and before the session assigns one. */
    default long seq() {
        return 0;
    }

    /**
     * What a client asks for in its {@link Hello}: a new session, to resume an existing one on a new connection, or
     * to join an existing one with a second leg (split path).
     */
    enum Intent {
        /** Start a new session. */
        NEW(0),
        /** Continue an existing session whose transport dropped; both sides resend unacknowledged frames. */
        RESUME(1),
        /** Add the upstream-only leg of a split session (client to server frames only). */
        JOIN_UPSTREAM(2),
        /** Add the downstream-only leg of a split session (server to client frames only). */
        JOIN_DOWNSTREAM(3);

        /** Wire code. */
        public final int code;

        Intent(int code) {
            this.code = code;
        }
    }

    /**
     * First frame from the client.
     *
     * @param minVersion lowest protocol version the client speaks
     * @param maxVersion highest protocol version the client speaks
     * @param tokenId which shared secret the client proves knowledge of (not the secret)
     * @param nonce 32 random bytes
     * @param timestampMillis client wall clock, epoch milliseconds; the server refuses stale hellos
     * @param intent new session, resume or join
     * @param sessionId 16-byte session id for RESUME and JOIN_*, empty for NEW
     * @param lastReceivedSeq for RESUME/JOIN: last reliable sequence number the client received; else 0
     * @param capabilities bit set of optional features ({@link Capabilities})
     */
    record Hello(
            int minVersion,
            int maxVersion,
            String tokenId,
            byte[] nonce,
            long timestampMillis,
            Intent intent,
            byte[] sessionId,
            long lastReceivedSeq,
            int capabilities)
            implements Frame {
        @Override
        public FrameType type() {
            return FrameType.HELLO;
        }
    }

    /**
     * Server's answer to a hello.
     *
     * @param version the protocol version chosen for this session
     * @param nonce 32 random bytes
     * @param capabilities features the server agrees to (a subset of the client's)
     */
    record Challenge(int version, byte[] nonce, int capabilities) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.CHALLENGE;
        }
    }

    /** Client's HMAC-SHA256 over the transcript (hello and challenge): 32 bytes. */
    record Proof(byte[] mac) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.PROOF;
        }
    }

    /**
     * Server accepts the client: the session id, what it last received (for resumption), the server's own proof (so the
     * client knows it talks to a holder of the secret) and the limits the client must respect.
     */
    record Welcome(byte[] sessionId, long lastReceivedSeq, byte[] serverMac, int maxPayload, int initialWindow)
            implements Frame {
        @Override
        public FrameType type() {
            return FrameType.WELCOME;
        }
    }

    /** Opens a stream to {@code host:port} on the peer's side. Either side may open streams. */
    record Open(int streamId, long seq, String host, int port, int window) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.OPEN;
        }
    }

    /** The peer connected the target of an {@link Open}; data may flow. Carries the acceptor's receive window. */
    record Accept(int streamId, long seq, int window) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.ACCEPT;
        }
    }

    /**
     * Stream bytes. {@code fin} marks the sender's half-close (the payload may then be empty). The payload is a view
     * (position to limit) and is not copied by the codec when decoding. {@code plain} is not on the wire: the sending
     * session's {@link CompressionGovernor} asks the codec not to try deflating this payload (the path is faster than
     * the compressor); decoded frames have it false.
     */
    record Data(int streamId, long seq, ByteBuffer payload, boolean fin, boolean plain) implements Frame {
        /** A DATA frame the codec may compress. */
        public Data(int streamId, long seq, ByteBuffer payload, boolean fin) {
            this(streamId, seq, payload, fin, false);
        }

        @Override
        public FrameType type() {
            return FrameType.DATA;
        }
    }

    /** Grants the peer {@code increment} more bytes of send credit on a stream. */
    record WindowUpdate(int streamId, long seq, int increment) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.WINDOW_UPDATE;
        }
    }

    /** Cumulative acknowledgement: every reliable frame up to and including {@code seq} arrived. */
    record Ack(long ackedSeq) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.ACK;
        }
    }

    /** Aborts a stream in both directions with a reason. */
    record Reset(int streamId, long seq, ResetCode code, String message) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.RESET;
        }
    }

    /** Keepalive; the peer answers with a {@link Pong} carrying the same opaque value. */
    record Ping(long opaque) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.PING;
        }
    }

    /** Answer to a {@link Ping}. */
    record Pong(long opaque) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.PONG;
        }
    }

    /** What kind of service an agent exposes. */
    enum ServiceKind {
        /** Raw TCP: the server gives it a public port. */
        TCP(1),
        /** An HTTP service: reached through the server's HTTP routes and Hub. */
        HTTP(2);

        /** Wire code. */
        public final int code;

        ServiceKind(int code) {
            this.code = code;
        }
    }

    /**
     * One service an agent exposes.
     *
     * @param name service name: 1..63 characters of a-z, 0-9 and '-', not starting or ending with '-' (a DNS label,
     *     since HTTP services may be reached as {@code <name>.<domain>})
     * @param kind TCP or HTTP
     * @param requestedPort the public port asked for, 0 for any (TCP only)
     * @param target what the agent connects to, for display only (the server never dials it)
     */
    record ExposedService(String name, ServiceKind kind, int requestedPort, String target) {}

    /**
     * An agent's announcement, sent by the client after the handshake and again after every resume: the complete list
     * of its services (services it announced before and no longer lists are released). With {@code release} the agent
     * is going away for good and its services are freed at once (the list is then empty).
     *
     * @param agent the agent's name: 1..64 characters of A-Z, a-z, 0-9, '.', '_' and '-'
     * @param release true to give up every lease now
     * @param services at most {@link #MAX_SERVICES} services with distinct names
     * @param routeToken the secret HTTP clients present ({@code /_token/<t>/}, {@code X-Token}) to reach the agent's
     *     first HTTP service; empty for none, else {@link #MIN_ROUTE_TOKEN}..{@link #MAX_ROUTE_TOKEN} characters.
     *     Never printed: {@link #toString} redacts it.
     */
    record Expose(String agent, boolean release, java.util.List<ExposedService> services, String routeToken)
            implements Frame {
        /** Most services one EXPOSE may carry. */
        public static final int MAX_SERVICES = 64;
        /** Shortest route token. */
        public static final int MIN_ROUTE_TOKEN = 16;
        /** Longest route token. */
        public static final int MAX_ROUTE_TOKEN = 128;

        /** An announcement without a route token. */
        public Expose(String agent, boolean release, java.util.List<ExposedService> services) {
            this(agent, release, services, "");
        }

        public Expose {
            routeToken = routeToken == null ? "" : routeToken;
        }

        @Override
        public String toString() {
            return "Expose[agent=" + agent + ", release=" + release + ", services=" + services + ", routeToken="
                    + (routeToken.isEmpty() ? "" : "<redacted>") + "]";
        }

        @Override
        public FrameType type() {
            return FrameType.EXPOSE;
        }
    }

    /**
     * The server's answer for one service.
     *
     * @param name the service name as announced
     * @param granted true when the service is reachable
     * @param publicPort the public TCP port given, 0 for none
     * @param detail when granted, where it is reachable (e.g. {@code tcp://exit.example:10000}); else the reason
     */
    record Grant(String name, boolean granted, int publicPort, String detail) {}

    /** The server's answer to an {@link Expose}: one grant per announced service, in order. */
    record ExposeResult(java.util.List<Grant> grants) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.EXPOSE_RESULT;
        }
    }

    /** How an HTTP request found the agent's service on the server. */
    enum RouteVia {
        /** {@code /_token/<route token>/...} or an {@code X-Token} header. */
        TOKEN(1),
        /** A host route, {@code <service>.<domain>}. */
        HOST(2),
        /** The Hub API. */
        HUB(3);

        /** Wire code. */
        public final int code;

        RouteVia(int code) {
            this.code = code;
        }
    }

    /**
     * One HTTP request that the server routed to one of the agent's HTTP services, reported to the agent when it
     * completed (informational, unnumbered; server to client, only with {@link Capabilities#ROUTE_LOG}). The server may
     * leave requests out under load; {@code skipped} says how many it left out since its previous report on this
     * session. Nothing in it is secret: the path has no query string and no route token prefix.
     *
     * @param service the service the request went to (a DNS label)
     * @param via how the request found the service
     * @param method the request method, 1..{@link #MAX_METHOD} bytes of an HTTP token
     * @param path the request path as {@link #loggablePath} makes it: 1..{@link #MAX_PATH} bytes, starting with '/'
     * @param status the HTTP status answered (100..999), or 0 when none was (the request failed before a response)
     * @param latencyMicros time from the request's arrival to its end, in microseconds
     * @param bytesIn request body bytes read from the HTTP client
     * @param bytesOut response body bytes written to the HTTP client
     * @param skipped requests completed but not reported since the previous report (at most 2^32-1)
     */
    record RouteLog(
            String service,
            RouteVia via,
            String method,
            String path,
            int status,
            long latencyMicros,
            long bytesIn,
            long bytesOut,
            long skipped)
            implements Frame {
        /** Longest path, in UTF-8 bytes. */
        public static final int MAX_PATH = 256;
        /** Longest method, in bytes. */
        public static final int MAX_METHOD = 16;
        /** Largest skipped count. */
        public static final long MAX_SKIPPED = 0xFFFF_FFFFL;

        private static final String ELLIPSIS = "\u2026";

        /**
         * A request target as a report carries it: the path only (query string and fragment dropped, since they often
         * carry secrets), control characters replaced by '?', cut at a character boundary to at most {@link #MAX_PATH}
         * UTF-8 bytes (ending in an ellipsis when cut), "/" when empty.
         */
        public static String loggablePath(String target) {
            if (target == null || target.isEmpty()) {
                return "/";
            }
            int cut = target.length();
            int q = target.indexOf('?');
            if (q >= 0) {
                cut = q;
            }
            int f = target.indexOf('#');
            if (f >= 0 && f < cut) {
                cut = f;
            }
            StringBuilder out = new StringBuilder(Math.min(cut, MAX_PATH) + 1);
            if (cut == 0 || target.charAt(0) != '/') {
                out.append('/');
            }
            int bytes = out.length();
            int fits = -1; // length of out when it last fitted with room for the ellipsis
            for (int i = 0; i < cut; ) {
                int cp = target.codePointAt(i);
                i += Character.charCount(cp);
                if (cp < 0x20 || cp == 0x7f || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    cp = '?';
                }
                int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                if (bytes + len > MAX_PATH - 3 && fits < 0) {
                    fits = out.length();
                }
                if (bytes + len > MAX_PATH) {
                    out.setLength(fits);
                    return out.append(ELLIPSIS).toString();
                }
                out.appendCodePoint(cp);
                bytes += len;
            }
            return out.toString();
        }

        @Override
        public FrameType type() {
            return FrameType.ROUTE_LOG;
        }
    }

    /**
     * Several {@link RouteLog} reports in one frame (informational, unnumbered; server to client, only with
     * {@link Capabilities#ROUTE_LOG_BATCH}), in the order the requests completed. Each report's {@code skipped} counts
     * the requests left out just before it.
     *
     * @param reports 1..{@link #MAX_REPORTS} reports
     */
    record RouteLogs(java.util.List<RouteLog> reports) implements Frame {
        /** Most reports in one frame: at most about 24 KiB of body, well under the smallest payload limit. */
        public static final int MAX_REPORTS = 64;

        public RouteLogs {
            reports = java.util.List.copyOf(reports);
        }

        @Override
        public FrameType type() {
            return FrameType.ROUTE_LOGS;
        }
    }

    /** Ends the session (or refuses a handshake) with a reason. */
    record Close(CloseCode code, String message) implements Frame {
        @Override
        public FrameType type() {
            return FrameType.CLOSE;
        }
    }
}
