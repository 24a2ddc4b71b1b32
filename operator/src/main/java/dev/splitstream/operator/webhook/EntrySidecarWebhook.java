package dev.splitstream.operator.webhook;

import dev.splitstream.operator.crd.v1alpha1.TokenSpec;
import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.dependent.Settings;
import dev.splitstream.operator.model.SidecarInjection;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionRequest;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponseBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Mutating admission webhook (optional, deploy/operator/webhook): adds the entry node as a sidecar to pods labelled
 * {@code splitstream.dev/inject-entry=<tunnel>}. It never refuses a pod; a missing entry Secret is returned as an
 * admission warning (kubectl prints it).
 */
@Path("/mutate/entry-sidecar")
public class EntrySidecarWebhook {
    private static final Logger LOG = Logger.getLogger(EntrySidecarWebhook.class);

    @Inject
    KubernetesClient client;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    public String review(String body) {
        var serialization = client.getKubernetesSerialization();
        AdmissionReview review = serialization.unmarshal(body, AdmissionReview.class);
        AdmissionRequest request = review.getRequest();
        AdmissionResponse response = respond(request);
        return serialization.asJson(new AdmissionReviewBuilder()
                .withApiVersion(review.getApiVersion() != null ? review.getApiVersion() : "admission.k8s.io/v1")
                .withKind("AdmissionReview")
                .withResponse(response)
                .build());
    }

    private AdmissionResponse respond(AdmissionRequest request) {
        var allowed = new AdmissionResponseBuilder().withUid(request.getUid()).withAllowed(true);
        if (!(request.getObject() instanceof Pod pod)) {
            return allowed.build();
        }
        Optional<String> requested = SidecarInjection.requestedTunnel(pod);
        if (requested.isEmpty()) {
            return allowed.build();
        }
        String tunnel = requested.get();
        String namespace = request.getNamespace();
        List<String> warnings = new ArrayList<>();
        String secret = TunnelResources.entryConfigSecretName(tunnel);
        TokenSpec token = null;
        try {
            if (namespace != null) {
                Tunnel found = client.resources(Tunnel.class)
                        .inNamespace(namespace)
                        .withName(tunnel)
                        .get();
                token = found == null || found.getSpec() == null ? null : found.getSpec().token;
                if (client.secrets().inNamespace(namespace).withName(secret).get() == null) {
                    warnings.add("splitstream: Secret " + secret + " not found in namespace " + namespace
                            + ": is there a Tunnel named " + tunnel
                            + "? The entry sidecar will not start without it");
                }
            }
        } catch (KubernetesClientException e) {
            LOG.debugf("could not look up tunnel %s/%s: %s", namespace, tunnel, e.getMessage());
        }
        if (token != null && token.existingSecretKey == null) {
            token.existingSecretKey = new TokenSpec().existingSecretKey;
        }
        List<Map<String, Object>> patch = SidecarInjection.patch(pod, Settings.defaults(), token);
        String json = client.getKubernetesSerialization().asJson(patch);
        LOG.infof("adding entry sidecar for tunnel %s to pod %s/%s", tunnel, namespace, podName(pod));
        return allowed.withPatchType("JSONPatch")
                .withPatch(Base64.getEncoder().encodeToString(json.getBytes(StandardCharsets.UTF_8)))
                .withWarnings(warnings.isEmpty() ? null : warnings)
                .build();
    }

    private static String podName(Pod pod) {
        String name = pod.getMetadata().getName();
        return name != null ? name : pod.getMetadata().getGenerateName() + "*";
    }
}
