package dev.splitstream.operator.reconciler;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A Tunnel's conditions being recomputed: a condition keeps its lastTransitionTime while its status stays the same,
 * so an unchanged status patches nothing.
 */
final class Conditions {
    static final String READY = "Ready";
    static final String SECRETS_READY = "SecretsReady";
    static final String EXIT_READY = "ExitReady";
    static final String INGRESS_READY = "IngressReady";
    static final String ENTRY_READY = "EntryReady";
    static final List<String> PARTS = List.of(SECRETS_READY, EXIT_READY, INGRESS_READY, ENTRY_READY);

    private final List<Condition> previous;
    private final List<Condition> current = new ArrayList<>();
    private final Long generation;
    private final Instant now;

    Conditions(List<Condition> previous, Long generation, Instant now) {
        this.previous = previous == null ? List.of() : previous;
        this.generation = generation;
        this.now = now.truncatedTo(ChronoUnit.SECONDS);
    }

    Conditions set(String type, boolean status, String reason, String message) {
        String value = status ? "True" : "False";
        String transition = find(previous, type)
                .filter(c -> value.equals(c.getStatus()) && c.getLastTransitionTime() != null)
                .map(Condition::getLastTransitionTime)
                .orElse(now.toString());
        current.removeIf(c -> c.getType().equals(type));
        current.add(new ConditionBuilder()
                .withType(type)
                .withStatus(value)
                .withReason(reason)
                .withMessage(message)
                .withObservedGeneration(generation)
                .withLastTransitionTime(transition)
                .build());
        return this;
    }

    /** Carries a condition over unchanged (used when an invalid spec stops the reconciliation). */
    Conditions keep(String type) {
        find(previous, type).ifPresent(current::add);
        return this;
    }

    Optional<Condition> get(String type) {
        return find(current, type);
    }

    boolean isTrue(String type) {
        return get(type).map(c -> "True".equals(c.getStatus())).orElse(false);
    }

    /** Ready first, then the parts in a fixed order, so equal conditions compare equal. */
    List<Condition> toList() {
        List<Condition> ordered = new ArrayList<>();
        get(READY).ifPresent(ordered::add);
        PARTS.forEach(type -> get(type).ifPresent(ordered::add));
        return ordered;
    }

    static Optional<Condition> find(List<Condition> conditions, String type) {
        return conditions == null
                ? Optional.empty()
                : conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
    }
}
