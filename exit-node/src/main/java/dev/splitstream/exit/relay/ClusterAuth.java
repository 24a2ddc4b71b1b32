package dev.splitstream.exit.relay;

import dev.splitstream.protocol.Secret;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Clock;
import java.util.HexFormat;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Authenticates a replica-to-replica hop: the relaying replica sends {@value #RELAY_HEADER}
 * {@code <replica>:<epoch seconds>:<HMAC-SHA256 hex>} over the replica, the time and the client's address (sent in
 * {@value #FOR_HEADER}), keyed with the cluster secret. What it grants is small: the receiver takes the client address
 * for its audit log and never relays the leg again; the tunnel's own handshake still proves the session.
 */
public final class ClusterAuth {
    public static final String RELAY_HEADER = "X-Splitstream-Relay";
    public static final String FOR_HEADER = "X-Splitstream-Relayed-For";
    static final long MAX_SKEW_SECONDS = 60;

    private final Secret secret;
    private final String replicaId;
    private final Clock clock;

    public ClusterAuth(Secret secret, String replicaId, Clock clock) {
        this.secret = secret;
        this.replicaId = replicaId;
        this.clock = clock;
    }

    /** The value of {@value #RELAY_HEADER} for a hop carrying a client at {@code clientAddress}. */
    public String sign(String clientAddress) {
        long now = clock.millis() / 1000;
        return replicaId + ":" + now + ":" + mac(replicaId, now, clientAddress);
    }

    /**
     * The relaying replica's id if {@code header} is a valid, fresh signature for {@code clientAddress}; empty if not.
     */
    public Optional<String> verify(String header, String clientAddress) {
        if (header == null || header.length() > 256) {
            return Optional.empty();
        }
        String[] parts = header.split(":", 3);
        if (parts.length != 3) {
            return Optional.empty();
        }
        long ts;
        try {
            ts = Long.parseLong(parts[1]);
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        if (Math.abs(clock.millis() / 1000 - ts) > MAX_SKEW_SECONDS) {
            return Optional.empty();
        }
        byte[] expected = mac(parts[0], ts, clientAddress).getBytes(StandardCharsets.US_ASCII);
        byte[] given = parts[2].getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(expected, given) ? Optional.of(parts[0]) : Optional.empty();
    }

    private String mac(String replica, long ts, String clientAddress) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.bytes(), "HmacSHA256"));
            String input =
                    "splitstream-relay\n" + replica + "\n" + ts + "\n" + (clientAddress == null ? "" : clientAddress);
            return HexFormat.of().formatHex(mac.doFinal(input.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }
}
