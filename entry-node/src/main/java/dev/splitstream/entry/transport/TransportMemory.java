package dev.splitstream.entry.transport;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * Which transport worked per server URL, in a small JSON file ({@code {"ws://exit:8080": {"transport": "http-poll",
 * "updated": "..."}}}), so that a restart starts with what worked. Failing to read or write it is logged, never fatal.
 */
public final class TransportMemory {
    private static final Logger LOG = Logger.getLogger(TransportMemory.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Vertx vertx;
    private final Path file;
    private final Map<String, String> known = new ConcurrentHashMap<>();
    private volatile boolean writeFailureLogged;

    public TransportMemory(Vertx vertx, Path file) {
        this.vertx = vertx;
        this.file = file;
        try {
            if (Files.isRegularFile(file)) {
                JSON.readTree(file.toFile()).fields().forEachRemaining(e -> {
                    String t = e.getValue().path("transport").asText(null);
                    if (t != null) {
                        known.put(e.getKey(), t);
                    }
                });
            }
        } catch (Exception e) {
            LOG.warnf("cannot read the transport state file %s (%s); starting without it", file, e.getMessage());
        }
    }

    /** What worked last time for {@code server}. */
    public Optional<String> recall(String server) {
        return Optional.ofNullable(known.get(server));
    }

    /** Records what worked; writes the file on a worker thread when it changed. */
    public void remember(String server, String transport) {
        if (transport.equals(known.put(server, transport))) {
            return;
        }
        Map<String, String> snapshot = Map.copyOf(known);
        vertx.executeBlocking(
                () -> {
                    write(snapshot);
                    return null;
                },
                true);
    }

    private synchronized void write(Map<String, String> snapshot) {
        try {
            ObjectNode root = JSON.createObjectNode();
            String now = Instant.now().toString();
            snapshot.forEach(
                    (server, t) -> root.putObject(server).put("transport", t).put("updated", now));
            Path dir = file.toAbsolutePath().getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            Path tmp = Files.createTempFile(dir, ".transports", ".tmp");
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), root);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (Exception e) {
            if (!writeFailureLogged) {
                writeFailureLogged = true;
                LOG.warnf("cannot write the transport state file %s: %s (not fatal)", file, e.toString());
            }
        }
    }
}
