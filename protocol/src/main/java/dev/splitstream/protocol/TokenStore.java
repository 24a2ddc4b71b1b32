package dev.splitstream.protocol;

import java.util.Optional;

/** Looks up the shared secret of a token id. The exit node backs this by its token or tokens-file configuration. */
@FunctionalInterface
public interface TokenStore {
    /** The secret for {@code tokenId}, or empty when the id is unknown. */
    Optional<Secret> secretFor(String tokenId);
}
