package dev.splitstream.operator.reconciler;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/** Kubernetes Events on a Tunnel, so `kubectl describe tunnel` says what happened and what to fix. */
final class EventRecorder {
    static final String NORMAL = "Normal";
    static final String WARNING = "Warning";
    private static final Logger LOG = Logger.getLogger(EventRecorder.class);
    private static final int MAX_MESSAGE = 1024;

    private EventRecorder() {}

    static void record(KubernetesClient client, Tunnel tunnel, String type, String reason, String message) {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        String name = tunnel.getMetadata().getName() + "."
                + Long.toHexString(System.currentTimeMillis())
                + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000));
        var event = new EventBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(tunnel.getMetadata().getNamespace())
                .addToLabels(
                        TunnelResources.LABEL_INSTANCE, tunnel.getMetadata().getName())
                .endMetadata()
                .withInvolvedObject(new ObjectReferenceBuilder()
                        .withApiVersion(tunnel.getApiVersion())
                        .withKind(tunnel.getKind())
                        .withName(tunnel.getMetadata().getName())
                        .withNamespace(tunnel.getMetadata().getNamespace())
                        .withUid(tunnel.getMetadata().getUid())
                        .withResourceVersion(tunnel.getMetadata().getResourceVersion())
                        .build())
                .withType(type)
                .withReason(reason)
                .withMessage(message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE) : message)
                .withFirstTimestamp(now)
                .withLastTimestamp(now)
                .withCount(1)
                .withNewSource()
                .withComponent(TunnelResources.MANAGED_BY)
                .endSource()
                .withReportingComponent(TunnelResources.MANAGED_BY)
                .build();
        try {
            client.v1()
                    .events()
                    .inNamespace(tunnel.getMetadata().getNamespace())
                    .resource(event)
                    .create();
        } catch (KubernetesClientException e) {
            // An Event is a courtesy: losing one must not fail the reconciliation.
            LOG.warnf("could not record event %s on tunnel %s: %s", reason, name, e.getMessage());
        }
    }
}
