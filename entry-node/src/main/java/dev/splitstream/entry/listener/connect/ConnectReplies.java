package dev.splitstream.entry.listener.connect;

import dev.splitstream.protocol.ResetCode;

/** The HTTP status that tells a CONNECT client why its tunnel failed. */
public final class ConnectReplies {
    private ConnectReplies() {}

    /** The status line's code and reason phrase for a reset. */
    public static String statusLine(ResetCode code) {
        return switch (code) {
            case NOT_ALLOWED -> "403 Forbidden";
            case TIMEOUT -> "504 Gateway Timeout";
            case TOO_MANY_STREAMS, SESSION_CLOSED -> "503 Service Unavailable";
            default -> "502 Bad Gateway";
        };
    }

    /** A complete response without a body beyond a one-line reason, closing the connection. */
    static String response(String statusLine, String reason) {
        String body = reason == null || reason.isEmpty() ? "" : reason + "\n";
        return "HTTP/1.1 " + statusLine + "\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: " + body.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + "\r\n"
                + "Connection: close\r\n\r\n"
                + body;
    }
}
