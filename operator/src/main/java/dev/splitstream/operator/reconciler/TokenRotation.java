package dev.splitstream.operator.reconciler;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.Credentials;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Token rotation on a generated credentials Secret. The workflow never updates that Secret (it is create-only), so
 * rotation is this explicit step: on a new {@code splitstream.dev/rotate-token} value a new token becomes current and
 * the previous one stays in the exit's tokens file for the grace period; a later reconciliation drops it. The exit
 * re-reads the mounted file, so no exit pod restarts; entry pods roll to the new token through the entry Secret.
 */
final class TokenRotation {
    private static final Logger LOG = Logger.getLogger(TokenRotation.class);

    /**
     * @param secret the credentials Secret as it now is
     * @param recheckIn when the reconciler must look again (a retiring token expires), if at all
     */
    record Outcome(Secret secret, Optional<Duration> recheckIn) {}

    private TokenRotation() {}

    static Outcome apply(Tunnel tunnel, Secret secret, Instant now, KubernetesClient client) {
        if (Credentials.needsTokenKeys(secret)) {
            // Made by an operator before entries read their token from a file: add the file the entry configuration
            // now points at. The Secret's other keys stay as they are (an old hmac-key is read by nothing).
            secret = client.resource(Credentials.withTokenKeys(secret)).update();
            LOG.infof(
                    "tunnel %s/%s: added per-id token keys to Secret %s",
                    tunnel.getMetadata().getNamespace(),
                    tunnel.getMetadata().getName(),
                    secret.getMetadata().getName());
        }
        if (Credentials.rotationRequested(tunnel, secret)) {
            Duration grace = Duration.ofSeconds(tunnel.getSpec().token.rotationGraceSeconds);
            Secret rotated = client.resource(Credentials.rotate(secret, tunnel, now, grace))
                    .update();
            String previousId = Credentials.value(secret, TunnelResources.KEY_TOKEN_ID);
            String newId = Credentials.value(rotated, TunnelResources.KEY_TOKEN_ID);
            String message = "token rotated: " + newId + " is current"
                    + (grace.isZero()
                            ? "; " + previousId + " no longer accepted"
                            : "; " + previousId + " accepted until " + now.plus(grace));
            LOG.infof(
                    "tunnel %s/%s: %s",
                    tunnel.getMetadata().getNamespace(), tunnel.getMetadata().getName(), message);
            EventRecorder.record(client, tunnel, EventRecorder.NORMAL, "TokenRotated", message);
            return new Outcome(rotated, grace.isZero() ? Optional.empty() : Optional.of(grace));
        }
        Optional<Instant> expiry = Credentials.retiringExpiry(secret);
        if (expiry.isEmpty()) {
            return new Outcome(secret, Optional.empty());
        }
        if (now.isBefore(expiry.get())) {
            return new Outcome(secret, Optional.of(Duration.between(now, expiry.get())));
        }
        String retiredId = secret.getMetadata().getAnnotations().get(TunnelResources.ANNOTATION_RETIRING_TOKEN_ID);
        Secret retired = client.resource(Credentials.retire(secret)).update();
        EventRecorder.record(
                client,
                tunnel,
                EventRecorder.NORMAL,
                "TokenRetired",
                "previous token " + retiredId + " no longer accepted");
        return new Outcome(retired, Optional.empty());
    }
}
