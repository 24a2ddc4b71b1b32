package dev.splitstream.e2e.harness;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.function.Consumer;

/**
 * An exit and an entry node started for one test, both ready and the entry's session established. Closing stops
 * the entry, then the exit.
 */
public final class Tunnel implements AutoCloseable {
    private final Closer closer = new Closer();
    private final String token;
    private final Node exit;
    private final Node entry;

    private Tunnel(String token, Node exit, Node entry) {
        this.token = token;
        this.exit = exit;
        this.entry = entry;
    }

    /** A random 32-byte token, hex. */
    public static String newToken() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /**
     * Starts an exit (allowing what {@code exitSetup} allows) and an entry connected to it, with a fresh token.
     * {@code entrySetup} adds forwards and listeners; the server URL is set to the exit unless it sets one.
     */
    public static Tunnel start(Consumer<NodeSpec> exitSetup, Consumer<NodeSpec> entrySetup) {
        String token = newToken();
        Closer closer = new Closer();
        try {
            NodeSpec exitSpec = NodeSpec.exit().token(token);
            exitSetup.accept(exitSpec);
            Node exit = closer.add(exitSpec.start());
            NodeSpec entrySpec = NodeSpec.entry().token(token).server("ws://127.0.0.1:" + exitSpec.httpPort());
            entrySetup.accept(entrySpec);
            exit.awaitReady();
            Node entry = closer.add(entrySpec.start());
            entry.awaitReady();
            entry.awaitLog("session established", Duration.ofSeconds(30));
            Tunnel tunnel = new Tunnel(token, exit, entry);
            tunnel.closer.add(exit);
            tunnel.closer.add(entry);
            return tunnel;
        } catch (RuntimeException | Error e) {
            closer.close();
            throw e;
        }
    }

    public String token() {
        return token;
    }

    public Node exit() {
        return exit;
    }

    public Node entry() {
        return entry;
    }

    @Override
    public void close() {
        closer.close();
    }
}
