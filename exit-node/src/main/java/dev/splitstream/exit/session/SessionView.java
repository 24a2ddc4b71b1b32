package dev.splitstream.exit.session;

import java.time.Instant;

/**
 * One session as the dashboard shows it: token id, agent (null unless the session serves an agent), transport, the peer's
 * address, since when, last RTT (-1 before the first pong), payload bytes each way (up: from the entry), streams open,
 * and whether a leg is attached (false while it waits for a resume). Holds no secret.
 */
public record SessionView(
        String id,
        String tokenId,
        String agent,
        String transport,
        String remoteAddress,
        Instant since,
        long rttNanos,
        long bytesUp,
        long bytesDown,
        int streams,
        boolean attached) {}
