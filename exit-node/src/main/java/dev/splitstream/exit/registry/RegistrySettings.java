package dev.splitstream.exit.registry;

import dev.splitstream.exit.config.ConfigException;
import dev.splitstream.exit.config.SplitstreamConfig;
import dev.splitstream.protocol.Secret;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The registry's configuration after its checks (fail fast, naming the property).
 *
 * @param postgres true for {@code splitstream.exit.registry=postgres}
 * @param replicaId this replica's id
 * @param replicaUrl how other replicas reach this one (postgres)
 * @param clusterSecret authenticates replica-to-replica hops (postgres)
 * @param testWriteDelay for tests only: how long each registry write transaction sleeps in the database first
 */
public record RegistrySettings(
        boolean postgres,
        String replicaId,
        URI replicaUrl,
        Secret clusterSecret,
        Duration heartbeatInterval,
        Duration offlineAfter,
        Duration auditRetention,
        Duration testWriteDelay) {
    private static final Pattern REPLICA_ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,31}");

    public static RegistrySettings from(SplitstreamConfig config) {
        SplitstreamConfig.Exit exit = config.exit();
        String mode = exit.registry().trim().toLowerCase(Locale.ROOT);
        if (!mode.equals("memory") && !mode.equals("postgres")) {
            throw new ConfigException(
                    "splitstream.exit.registry must be memory or postgres, not '" + exit.registry() + "'");
        }
        boolean postgres = mode.equals("postgres");
        String id = exit.replicaId().map(String::trim).orElseGet(RegistrySettings::randomId);
        if (!REPLICA_ID.matcher(id).matches()) {
            throw new ConfigException(
                    "splitstream.exit.replica-id must match [a-z0-9][a-z0-9-]{0,31}, not '" + id + "'");
        }
        URI url = null;
        Secret secret = null;
        if (postgres) {
            String raw = exit.replicaUrl()
                    .orElseThrow(() -> new ConfigException(
                            "splitstream.exit.replica-url (SPLITSTREAM_EXIT_REPLICA_URL) is required with"
                                    + " splitstream.exit.registry=postgres: how other replicas reach this one,"
                                    + " e.g. http://10.0.0.5:8080"));
            url = parseUrl(raw);
            String s = exit.clusterSecret()
                    .orElseThrow(() -> new ConfigException(
                            "splitstream.exit.cluster-secret (SPLITSTREAM_EXIT_CLUSTER_SECRET) is required with"
                                    + " splitstream.exit.registry=postgres"));
            if (s.length() < 16) {
                throw new ConfigException("splitstream.exit.cluster-secret must have at least 16 characters");
            }
            secret = new Secret(s.getBytes(StandardCharsets.UTF_8));
        }
        positive("splitstream.exit.heartbeat-interval", exit.heartbeatInterval());
        positive("splitstream.exit.replica-offline-after", exit.replicaOfflineAfter());
        positive("splitstream.exit.audit-retention", exit.auditRetention());
        if (exit.registryTestWriteDelay().isNegative()) {
            throw new ConfigException("splitstream.exit.registry-test-write-delay must not be negative");
        }
        if (exit.replicaOfflineAfter().compareTo(exit.heartbeatInterval().multipliedBy(2)) < 0) {
            throw new ConfigException(
                    "splitstream.exit.replica-offline-after must be at least twice splitstream.exit.heartbeat-interval");
        }
        return new RegistrySettings(
                postgres,
                id,
                url,
                secret,
                exit.heartbeatInterval(),
                exit.replicaOfflineAfter(),
                exit.auditRetention(),
                exit.registryTestWriteDelay());
    }

    private static URI parseUrl(String raw) {
        try {
            URI uri = new URI(raw.trim());
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
                throw new ConfigException(
                        "splitstream.exit.replica-url must be an http:// or https:// URL with a host, not '" + raw
                                + "'");
            }
            return uri;
        } catch (URISyntaxException e) {
            throw new ConfigException("splitstream.exit.replica-url is not a URL: " + e.getMessage());
        }
    }

    private static void positive(String key, Duration d) {
        if (d.isNegative() || d.isZero()) {
            throw new ConfigException(key + " must be positive");
        }
    }

    private static String randomId() {
        byte[] b = new byte[4];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
