package dev.splitstream.bridge;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Which targets a token may reach. Empty means nothing. A host-name rule matches the name the entry node asked for; an
 * address rule matches the address the name resolved to (or the literal asked for). The dialer connects to exactly the
 * address that was checked, so a DNS answer cannot smuggle in an address that was not allowed.
 */
public final class AllowList {
    private static final AllowList NONE = new AllowList(List.of());

    private final List<AllowRule> rules;

    private AllowList(List<AllowRule> rules) {
        this.rules = List.copyOf(rules);
    }

    /** Nothing allowed. */
    public static AllowList none() {
        return NONE;
    }

    /**
     * Parses entries; a bad entry throws IllegalArgumentException whose message quotes the entry.
     *
     * @param entries entries, blanks ignored
     */
    public static AllowList parse(List<String> entries) {
        List<AllowRule> rules = new ArrayList<>();
        for (String e : entries) {
            if (e != null && !e.isBlank()) {
                rules.add(AllowRule.parse(e));
            }
        }
        return new AllowList(rules);
    }

    /** The rules, in configuration order. */
    public List<AllowRule> rules() {
        return rules;
    }

    /** True when no target at all is allowed. */
    public boolean isEmpty() {
        return rules.isEmpty();
    }

    /** True if a host-name rule allows {@code host:port} by name. */
    public boolean allowsName(String host, int port) {
        String h = AllowRule.normalizeHost(host);
        return rules.stream().anyMatch(r -> r.matchesName(h, port));
    }

    /** True if an address rule allows {@code address:port}. */
    public boolean allowsAddress(InetAddress address, int port) {
        return rules.stream().anyMatch(r -> r.matchesAddress(address, port));
    }

    /** True if some address rule allows {@code port} (so resolving a name could lead to an allowed address). */
    public boolean hasAddressRuleFor(int port) {
        return rules.stream().anyMatch(r -> r.isAddressRule() && r.allowsPort(port));
    }

    /**
     * Picks the address to dial for {@code host:port} given what {@code host} resolved to: when the name itself is
     * allowed, the first resolved address; otherwise the first resolved address an address rule allows.
     */
    public Optional<InetAddress> choose(String host, int port, List<InetAddress> resolved) {
        if (resolved.isEmpty()) {
            return Optional.empty();
        }
        if (allowsName(host, port)) {
            return Optional.of(resolved.get(0));
        }
        return resolved.stream().filter(a -> allowsAddress(a, port)).findFirst();
    }

    @Override
    public String toString() {
        return rules.toString();
    }
}
