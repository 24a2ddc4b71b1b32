package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The credentials Secret of a Tunnel: a generated token (with its id), the exit node's tokens file listing every token
 * currently accepted, and one {@code token.<id>} key per accepted token, the file an entry node reads.
 *
 * <p>Rotation adds a new token and keeps the previous one in the tokens file (and its {@code token.<id>} key) until
 * its grace period ends; the nodes re-read the mounted files when kubelet refreshes them, so no exit pod restarts and
 * an entry started with the previous id keeps working through the grace period.
 *
 * <p>Also the generated single-value Secrets (route token, Hub token, cluster secret): created once, never rewritten.
 */
public final class Credentials {
    private static final int SECRET_BYTES = 32;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final ObjectMapper JSON = new ObjectMapper();

    private Credentials() {}

    /** A fresh credentials Secret; {@code rotatedFor} records the Tunnel's rotate-token annotation, if any. */
    public static Secret generate(Tunnel tunnel) {
        String tokenId = newTokenId();
        String token = newSecret();
        Map<String, String> data = new LinkedHashMap<>();
        data.put(KEY_TOKEN_ID, tokenId);
        data.put(KEY_TOKEN, token);
        data.put(KEY_TOKENS_FILE, tokensFile(Map.of(tokenId, token)));
        data.put(tokenKey(tokenId), token);
        Map<String, String> annotations = new LinkedHashMap<>();
        rotateRequest(tunnel).ifPresent(v -> annotations.put(ANNOTATION_ROTATED_FOR, v));
        return new SecretBuilder()
                .withNewMetadata()
                .withName(credentialsSecretName(tunnel))
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_CREDENTIALS))
                .withAnnotations(annotations)
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withType("Opaque")
                .withData(encode(data))
                .build();
    }

    /** The value of the Tunnel's rotate-token annotation. */
    public static Optional<String> rotateRequest(Tunnel tunnel) {
        Map<String, String> annotations = tunnel.getMetadata().getAnnotations();
        return Optional.ofNullable(annotations == null ? null : annotations.get(ANNOTATION_ROTATE_TOKEN))
                .filter(v -> !v.isBlank());
    }

    /** Whether the Tunnel asks for a rotation the Secret has not answered yet. */
    public static boolean rotationRequested(Tunnel tunnel, Secret secret) {
        Optional<String> requested = rotateRequest(tunnel);
        return requested.isPresent() && !requested.get().equals(annotation(secret, ANNOTATION_ROTATED_FOR));
    }

    /**
     * The Secret after a rotation: a new current token; the previous one stays in the tokens file until
     * {@code now + grace}. A token still retiring from an earlier rotation is dropped now.
     */
    public static Secret rotate(Secret secret, Tunnel tunnel, Instant now, Duration grace) {
        Map<String, String> data = decode(secret);
        String previousId = data.get(KEY_TOKEN_ID);
        String previousToken = data.get(KEY_TOKEN);
        String tokenId = newTokenId();
        String token = newSecret();
        data.put(KEY_TOKEN_ID, tokenId);
        data.put(KEY_TOKEN, token);
        Map<String, String> accepted = new LinkedHashMap<>();
        accepted.put(tokenId, token);
        if (previousId != null && previousToken != null && grace.compareTo(Duration.ZERO) > 0) {
            accepted.put(previousId, previousToken);
        }
        data.put(KEY_TOKENS_FILE, tokensFile(accepted));
        keepTokenKeys(data, accepted);
        Secret rotated = new SecretBuilder(secret)
                .withData(encode(data))
                .withStringData(null)
                .build();
        Map<String, String> annotations = new LinkedHashMap<>(
                rotated.getMetadata().getAnnotations() == null
                        ? Map.of()
                        : rotated.getMetadata().getAnnotations());
        rotateRequest(tunnel).ifPresent(v -> annotations.put(ANNOTATION_ROTATED_FOR, v));
        if (accepted.size() > 1) {
            annotations.put(ANNOTATION_RETIRING_TOKEN_ID, previousId);
            annotations.put(ANNOTATION_RETIRING_EXPIRES, now.plus(grace).toString());
        } else {
            annotations.remove(ANNOTATION_RETIRING_TOKEN_ID);
            annotations.remove(ANNOTATION_RETIRING_EXPIRES);
        }
        rotated.getMetadata().setAnnotations(annotations);
        return rotated;
    }

    /** When the retiring token stops being accepted, if one is retiring. */
    public static Optional<Instant> retiringExpiry(Secret secret) {
        return Optional.ofNullable(annotation(secret, ANNOTATION_RETIRING_EXPIRES))
                .map(Instant::parse);
    }

    /** The Secret with only the current token left in the tokens file. */
    public static Secret retire(Secret secret) {
        Map<String, String> data = decode(secret);
        Map<String, String> current = Map.of(data.get(KEY_TOKEN_ID), data.get(KEY_TOKEN));
        data.put(KEY_TOKENS_FILE, tokensFile(current));
        keepTokenKeys(data, current);
        Secret retired = new SecretBuilder(secret)
                .withData(encode(data))
                .withStringData(null)
                .build();
        Map<String, String> annotations =
                new LinkedHashMap<>(retired.getMetadata().getAnnotations());
        annotations.remove(ANNOTATION_RETIRING_TOKEN_ID);
        annotations.remove(ANNOTATION_RETIRING_EXPIRES);
        retired.getMetadata().setAnnotations(annotations);
        return retired;
    }

    /**
     * Whether a credentials Secret made before the per-id token keys existed lacks the key of its current token (the
     * file its entries are told to read).
     */
    public static boolean needsTokenKeys(Secret secret) {
        Map<String, String> data = decode(secret);
        String id = data.get(KEY_TOKEN_ID);
        return id != null && data.get(KEY_TOKEN) != null && !data.containsKey(tokenKey(id));
    }

    /**
     * The Secret with a {@code token.<id>} key for every token of its tokens file. Everything else is kept as it is,
     * including the {@code hmac-key} of Secrets made by older operators (no node reads it).
     */
    public static Secret withTokenKeys(Secret secret) {
        Map<String, String> data = decode(secret);
        Map<String, String> accepted = new LinkedHashMap<>();
        if (data.get(KEY_TOKENS_FILE) != null) {
            accepted.putAll(acceptedTokens(data.get(KEY_TOKENS_FILE)));
        }
        accepted.put(data.get(KEY_TOKEN_ID), data.get(KEY_TOKEN));
        keepTokenKeys(data, accepted);
        return new SecretBuilder(secret)
                .withData(encode(data))
                .withStringData(null)
                .build();
    }

    /** A generated single-value Secret (key {@code token}): route token, Hub token or cluster secret. */
    public static Secret generated(Tunnel tunnel, String name) {
        return new SecretBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(tunnel.getMetadata().getNamespace())
                .withLabels(labels(tunnel, COMPONENT_CREDENTIALS))
                .withOwnerReferences(ownerReference(tunnel))
                .endMetadata()
                .withType("Opaque")
                .withData(encode(Map.of(KEY_GENERATED_TOKEN, newSecret())))
                .build();
    }

    /** One decoded value of the Secret, or null. */
    public static String value(Secret secret, String key) {
        return decode(secret).get(key);
    }

    /** The Secret's values, decoded (accepts both {@code data} and, as mock servers return it, {@code stringData}). */
    public static Map<String, String> decode(Secret secret) {
        Map<String, String> values = new LinkedHashMap<>();
        if (secret.getData() != null) {
            secret.getData()
                    .forEach((k, v) ->
                            values.put(k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
        }
        if (secret.getStringData() != null) {
            values.putAll(secret.getStringData());
        }
        return values;
    }

    /** Base64 of each value, as Secret {@code data} wants it. */
    public static Map<String, String> encode(Map<String, String> values) {
        Map<String, String> data = new LinkedHashMap<>();
        values.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        return data;
    }

    /**
     * The exit node's tokens file (its JSON form, which is also YAML): {@code {"tokens":[{"id":..,"secret":..}]}}, one
     * entry per accepted token. Entries carry no allow-list, so the exit's SPLITSTREAM_EXIT_ALLOW applies to each.
     */
    public static String tokensFile(Map<String, String> tokensById) {
        List<Map<String, String>> entries = new ArrayList<>();
        tokensById.forEach((id, token) -> {
            Map<String, String> entry = new LinkedHashMap<>();
            entry.put("id", id);
            entry.put("secret", token);
            entries.add(entry);
        });
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(Map.of("tokens", entries)) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a map of strings always serializes", e);
        }
    }

    /** The tokens a tokens file accepts, id to secret, in file order. */
    public static Map<String, String> acceptedTokens(String tokensFile) {
        Map<String, String> tokens = new LinkedHashMap<>();
        try {
            JsonNode entries = JSON.readTree(tokensFile).path("tokens");
            entries.forEach(
                    e -> tokens.put(e.path("id").asText(), e.path("secret").asText()));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a tokens file: " + e.getOriginalMessage(), e);
        }
        return tokens;
    }

    /** Sets {@code token.<id>} for each accepted token and drops the keys of tokens no longer accepted. */
    private static void keepTokenKeys(Map<String, String> data, Map<String, String> accepted) {
        data.keySet().removeIf(k -> k.startsWith(KEY_TOKEN_BY_ID_PREFIX));
        accepted.forEach((id, token) -> data.put(tokenKey(id), token));
    }

    private static String annotation(Secret secret, String key) {
        Map<String, String> annotations = secret.getMetadata().getAnnotations();
        return annotations == null ? null : annotations.get(key);
    }

    private static String newTokenId() {
        byte[] id = new byte[4];
        RANDOM.nextBytes(id);
        return "k-" + HexFormat.of().formatHex(id);
    }

    private static String newSecret() {
        byte[] bytes = new byte[SECRET_BYTES];
        RANDOM.nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }
}
