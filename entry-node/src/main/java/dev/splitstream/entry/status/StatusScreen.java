package dev.splitstream.entry.status;

import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.Console;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jboss.logmanager.ExtHandler;
import org.jboss.logmanager.handlers.ConsoleHandler;
import org.jline.terminal.Size;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import org.jline.utils.Display;
import org.jline.utils.InfoCmp.Capability;

/**
 * The entry's live terminal screen (splitstream.entry.status=auto and a terminal on standard input and output):
 * server, transport and why, session state, listeners, counters, the newest requests routed to exposed HTTP services
 * (agent mode) and the last log lines, redrawn every second by
 * JLine's {@link Display} (which sends only what changed). While it runs, Quarkus's console log handler is muted and
 * log records go to the screen's log panel instead; stopping restores the console and prints the panel's last lines,
 * so nothing logged is lost from view. Without a terminal nothing changes: plain log lines.
 */
@ApplicationScoped
public class StatusScreen {
    private static final Logger LOG = Logger.getLogger(StatusScreen.class.getName());
    private static final long REFRESH_MILLIS = 1000;
    private static final int LOG_LINES = 200;
    private static final int LOG_LINES_AT_EXIT = 20;

    private final SessionManager manager;
    private final EntryMetrics metrics;
    private final Instant started =
            Instant.ofEpochMilli(ManagementFactory.getRuntimeMXBean().getStartTime());
    private final LogTail tail = new LogTail(LOG_LINES);
    private final Map<Handler, Level> muted = new IdentityHashMap<>();

    private Terminal terminal;
    private Display display;
    private ScheduledExecutorService refresher;
    private List<String> listeners = List.of();
    private SessionManager.Status lastStatus;
    private long lastUp;
    private long lastDown;
    private long lastAtNanos;
    private double upRate;
    private double downRate;
    private Size size;

    public StatusScreen(SessionManager manager, EntryMetrics metrics) {
        this.manager = manager;
        this.metrics = metrics;
    }

    /**
     * Shows the screen if {@code mode} is {@code auto} and the node runs in a terminal; returns whether it did.
     * {@code listeners} are the lines of the listener section (what listens where, and to where it forwards).
     */
    public synchronized boolean start(String mode, List<String> listeners) {
        if (!"auto".equals(mode) || !interactive()) {
            return false;
        }
        this.listeners = List.copyOf(listeners);
        try {
            // No native signal handlers: Ctrl-C must stay the JVM's, so Quarkus shuts down gracefully.
            terminal = TerminalBuilder.builder()
                    .system(true)
                    // the exec provider (stty) only: the JNI one kept the JVM from exiting after Ctrl-C at times
                    .provider("exec")
                    .nativeSignals(false)
                    .dumb(true)
                    .build();
        } catch (Exception e) {
            LOG.log(Level.FINE, "no terminal for the status screen", e);
            return false;
        }
        if (terminal.getType().startsWith(Terminal.TYPE_DUMB)) {
            closeTerminal();
            return false;
        }
        muteConsole();
        terminal.puts(Capability.enter_ca_mode);
        terminal.puts(Capability.cursor_invisible);
        terminal.flush();
        display = new Display(terminal, true);
        lastAtNanos = System.nanoTime();
        refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "splitstream-status");
            t.setDaemon(true);
            return t;
        });
        refresher.scheduleWithFixedDelay(this::refresh, 0, REFRESH_MILLIS, TimeUnit.MILLISECONDS);
        return true;
    }

    /** Leaves the screen, restores the console and prints the last log lines there. */
    public void stop() {
        ScheduledExecutorService r;
        synchronized (this) {
            r = refresher;
            refresher = null;
        }
        if (r == null) {
            return;
        }
        r.shutdown();
        try {
            r.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            // Restoring the terminal runs at JVM shutdown next to JLine's own shutdown hook, which closes the same
            // terminal: bound it, so a stuck terminal can never keep the JVM from exiting.
            Thread restore = new Thread(
                    () -> {
                        try {
                            terminal.puts(Capability.cursor_visible);
                            terminal.puts(Capability.exit_ca_mode);
                            terminal.flush();
                        } catch (RuntimeException e) {
                            // already closed by JLine's hook: it restored the terminal itself
                        }
                    },
                    "splitstream-status-restore");
            restore.setDaemon(true);
            restore.start();
            try {
                restore.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            unmuteConsole();
            PrintStream out = System.out;
            for (String line : tail.last(LOG_LINES_AT_EXIT)) {
                out.println(line);
            }
            out.flush();
        }
    }

    private synchronized void refresh() {
        if (refresher == null) {
            return;
        }
        try {
            Size now = terminal.getSize();
            if (size == null || !size.equals(now)) {
                size = now;
                display.clear();
                display.resize(now.getRows(), now.getColumns());
            }
            display.update(StatusView.render(snapshot(), size.getRows(), size.getColumns()), -1);
            terminal.flush();
        } catch (RuntimeException e) {
            tail.add("status screen: " + e);
        }
    }

    private StatusView.Snapshot snapshot() {
        try {
            lastStatus =
                    manager.status().toCompletionStage().toCompletableFuture().get(2, TimeUnit.SECONDS);
        } catch (Exception e) {
            // keep the last status: the session's event loop is busy; the next refresh tries again
        }
        SessionManager.Status status = lastStatus == null
                ? new SessionManager.Status(SessionManager.State.CONNECTING, null, null, null, 0, 0, null, List.of())
                : lastStatus;
        long up = metrics.bytesUpTotal();
        long down = metrics.bytesDownTotal();
        long at = System.nanoTime();
        double seconds = (at - lastAtNanos) / 1e9;
        if (seconds >= 0.5) {
            upRate = (up - lastUp) / seconds;
            downRate = (down - lastDown) / seconds;
            lastUp = up;
            lastDown = down;
            lastAtNanos = at;
        }
        return new StatusView.Snapshot(
                manager.serverDisplay(),
                status,
                listeners,
                status.exposed(),
                metrics.connectionsTotal(),
                metrics.streams(),
                up,
                down,
                upRate,
                downRate,
                metrics.reconnectsTotal(),
                metrics.rttNanos(),
                Duration.between(started, Instant.now()),
                System.currentTimeMillis(),
                tail.last(LOG_LINES),
                metrics.routeRequests().count(),
                metrics.routeRequests().last(StatusView.REQUEST_LINES));
    }

    /** True when standard input and output are a terminal (Java 22+ always has a Console: ask it). */
    static boolean interactive() {
        Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            return (Boolean) Console.class.getMethod("isTerminal").invoke(console);
        } catch (NoSuchMethodException e) {
            return true; // Java 17-21: a Console exists only for a terminal
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    private void muteConsole() {
        Logger root = Logger.getLogger("");
        List<Handler> consoles = new ArrayList<>();
        collectConsoles(root.getHandlers(), consoles);
        for (Handler h : consoles) {
            muted.put(h, h.getLevel());
            h.setLevel(Level.OFF);
        }
        tail.setLevel(Level.ALL);
        root.addHandler(tail);
    }

    private void unmuteConsole() {
        Logger.getLogger("").removeHandler(tail);
        muted.forEach(Handler::setLevel);
        muted.clear();
    }

    private static void collectConsoles(Handler[] handlers, List<Handler> into) {
        for (Handler h : handlers) {
            if (h instanceof ConsoleHandler) {
                into.add(h);
            } else if (h instanceof ExtHandler ext) {
                collectConsoles(ext.getHandlers(), into);
            }
        }
    }

    private void closeTerminal() {
        try {
            terminal.close();
        } catch (Exception e) {
            // nothing left to restore
        }
    }
}
