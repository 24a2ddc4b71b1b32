package dev.splitstream.entry.status;

import dev.splitstream.entry.agent.Agent;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import org.jboss.logmanager.ExtLogRecord;

/**
 * The last log lines, kept while the status screen hides the console: a bounded ring, one line per record (a
 * throwable adds its message, not its stack).
 */
final class LogTail extends Handler {
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneId.systemDefault());

    private final int capacity;
    private final Deque<String> lines = new ArrayDeque<>();

    LogTail(int capacity) {
        this.capacity = capacity;
    }

    @Override
    public void publish(LogRecord record) {
        if (record == null || !isLoggable(record) || Agent.REQUESTS_LOGGER.equals(record.getLoggerName())) {
            return; // request lines have their own panel
        }
        String message = record instanceof ExtLogRecord ext ? ext.getFormattedMessage() : record.getMessage();
        StringBuilder line = new StringBuilder()
                .append(TIME.format(Instant.ofEpochMilli(record.getMillis())))
                .append(' ')
                .append(String.format("%-5s", level(record)))
                .append(' ')
                .append(message == null ? "" : message.replace('\n', ' '));
        if (record.getThrown() != null) {
            line.append(": ").append(record.getThrown());
        }
        add(line.toString());
    }

    private static String level(LogRecord record) {
        return switch (record.getLevel().getName()) {
            case "SEVERE" -> "ERROR";
            case "WARNING" -> "WARN";
            default -> record.getLevel().getName();
        };
    }

    synchronized void add(String line) {
        if (lines.size() == capacity) {
            lines.removeFirst();
        }
        lines.addLast(line);
    }

    /** The newest {@code n} lines, oldest first. */
    synchronized List<String> last(int n) {
        List<String> all = new ArrayList<>(lines);
        return all.subList(Math.max(0, all.size() - n), all.size());
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
}
