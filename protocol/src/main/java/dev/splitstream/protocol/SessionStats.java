package dev.splitstream.protocol;

/**
 * Counters of one session.
 *
 * @param bytesSent DATA payload bytes sent (first transmissions only)
 * @param bytesReceived DATA payload bytes received (duplicates not counted)
 * @param framesResent reliable frames sent again after a reconnect
 * @param streamsOpened streams opened by either side
 */
public record SessionStats(long bytesSent, long bytesReceived, long framesResent, long streamsOpened) {}
