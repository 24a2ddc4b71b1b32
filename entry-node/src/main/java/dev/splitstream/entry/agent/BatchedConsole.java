package dev.splitstream.entry.agent;

import io.vertx.core.Vertx;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Handler;
import org.jboss.logmanager.ExtHandler;
import org.jboss.logmanager.ExtLogRecord;
import org.jboss.logmanager.LogContext;
import org.jboss.logmanager.handlers.ConsoleHandler;

/**
 * Writes an agent's request lines to the console in batches instead of one write system call each (at 16,000 routed
 * requests a second the agent made as many writes to its standard output, on its event loop).
 *
 * <p>Installed in front of the node's console handler, which keeps its format, level and filter but no longer flushes
 * after every record. A line of the request category stays in the console's buffer (8 KiB: a larger backlog is written
 * as it fills) until the next flush, at most {@link #FLUSH_MILLIS} later; a line of any other category flushes at once,
 * with every request line before it, so nothing is reordered and warnings are never late. {@link #close} (the agent's
 * stop, on SIGTERM) and a JVM shutdown hook put the console back as it was and flush it, so no line is lost on a normal
 * exit; a SIGKILL loses at most the last {@link #FLUSH_MILLIS} of request lines.
 */
final class BatchedConsole extends ExtHandler {
    /** Longest time a request line waits in the buffer. */
    static final long FLUSH_MILLIS = 100;

    private final Vertx vertx;
    private final ExtHandler holder;
    private final Handler[] before;
    private final ConsoleHandler console;
    private final boolean consoleAutoFlush;
    private final String category;
    private final long timer;
    private final Thread hook;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean pending;

    private BatchedConsole(Vertx vertx, ExtHandler holder, Handler[] before, ConsoleHandler console, String category) {
        this.vertx = vertx;
        this.holder = holder;
        this.before = before;
        this.console = console;
        this.consoleAutoFlush = console.isAutoFlush();
        this.category = category;
        this.timer = vertx.setPeriodic(FLUSH_MILLIS, id -> flushPending());
        this.hook = new Thread(this::restore, "request-log-flush");
        // Nested, so that code looking for the console handler among the handlers still finds it: the status screen
        // mutes it (its level) while it draws, and this handler publishes through it, so the mute holds.
        setHandlers(new Handler[] {console});
    }

    /**
     * Puts a batching handler in front of the console handler of the root logger (as Quarkus configures it: nested in
     * its delayed handler), for the request lines of {@code category}. Returns null, leaving logging as it is, when
     * there is no plain console handler there (console off, async console, another log manager).
     */
    static BatchedConsole install(Vertx vertx, String category) {
        for (Handler h : LogContext.getLogContext().getLogger("").getHandlers()) {
            if (!(h instanceof ExtHandler holder)) {
                continue;
            }
            Handler[] nested = holder.getHandlers();
            for (int i = 0; i < nested.length; i++) {
                if (nested[i] instanceof ConsoleHandler console) {
                    BatchedConsole batched = new BatchedConsole(vertx, holder, nested, console, category);
                    Handler[] replaced = nested.clone();
                    replaced[i] = batched;
                    console.setAutoFlush(false);
                    holder.setHandlers(replaced);
                    Runtime.getRuntime().addShutdownHook(batched.hook);
                    return batched;
                }
            }
        }
        return null;
    }

    @Override
    protected void doPublish(ExtLogRecord record) {
        console.publish(record);
        if (category.equals(record.getLoggerName())) {
            pending = true;
        } else {
            console.flush();
        }
    }

    private void flushPending() {
        if (pending) {
            pending = false;
            console.flush();
        }
    }

    @Override
    public void flush() {
        pending = false;
        console.flush();
    }

    /** Puts the console handler back as it was and writes what waits. Idempotent. */
    @Override
    public void close() {
        if (restore()) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down already: the hook runs or ran, and finds it done
            }
        }
    }

    private boolean restore() {
        if (!closed.compareAndSet(false, true)) {
            return false;
        }
        vertx.cancelTimer(timer);
        // a record published from now on goes straight to the console, which flushes it again
        holder.setHandlers(before);
        console.setAutoFlush(consoleAutoFlush);
        console.flush();
        return true;
    }
}
