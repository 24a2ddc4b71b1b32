package dev.splitstream.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.Tunnels;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.Test;

/** The sidecar webhook over HTTP, as the API server calls it (TLS is the deployment's business). */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class EntrySidecarWebhookIT {
    @TestHTTPResource("/mutate/entry-sidecar")
    URI endpoint;

    @Inject
    KubernetesClient client;

    @Test
    void labelledPodIsPatchedWithTheEntrySidecarAndAMissingSecretIsAWarning() throws Exception {
        AdmissionReview response = post(review("splitstream.dev/inject-entry", "db"));

        assertThat(response.getResponse().getUid()).isEqualTo("req-1");
        assertThat(response.getResponse().getAllowed()).isTrue();
        assertThat(response.getResponse().getPatchType()).isEqualTo("JSONPatch");
        String patch =
                new String(Base64.getDecoder().decode(response.getResponse().getPatch()), StandardCharsets.UTF_8);
        assertThat(patch)
                .contains("\"path\":\"/spec/containers/-\"")
                .contains("\"name\":\"splitstream-entry\"")
                .contains("\"db-entry\"")
                .contains("\"name\":\"splitstream-entry-token\"")
                .contains("\"secretName\":\"db-credentials\"")
                .contains("\"containerPort\":9000");
        assertThat(response.getResponse().getWarnings()).singleElement().satisfies(w -> assertThat(w)
                .contains("Secret db-entry not found in namespace apps"));
    }

    @Test
    void aTunnelWithAnExistingTokenSecretGetsThatSecretMounted() throws Exception {
        Tunnel tunnel = Tunnels.forward("shared", "apps");
        tunnel.getSpec().token.existingSecret = "team-token";
        tunnel.getSpec().token.existingSecretKey = "secret";
        client.resource(tunnel).create();

        AdmissionReview response = post(review("splitstream.dev/inject-entry", "shared"));
        String patch =
                new String(Base64.getDecoder().decode(response.getResponse().getPatch()), StandardCharsets.UTF_8);
        assertThat(patch)
                .contains("\"secretName\":\"team-token\"")
                .contains("\"key\":\"secret\"")
                .doesNotContain("shared-credentials");
    }

    @Test
    void otherPodsAreAllowedUnchanged() throws Exception {
        AdmissionReview response = post(review("app", "web"));
        assertThat(response.getResponse().getAllowed()).isTrue();
        assertThat(response.getResponse().getPatch()).isNull();
    }

    private AdmissionReview review(String label, String value) {
        return new AdmissionReviewBuilder()
                .withApiVersion("admission.k8s.io/v1")
                .withKind("AdmissionReview")
                .withNewRequest()
                .withUid("req-1")
                .withNamespace("apps")
                .withOperation("CREATE")
                .withObject(new PodBuilder()
                        .withNewMetadata()
                        .withGenerateName("app-")
                        .addToLabels(label, value)
                        .endMetadata()
                        .withNewSpec()
                        .addNewContainer()
                        .withName("app")
                        .withImage("app:1")
                        .endContainer()
                        .endSpec()
                        .build())
                .endRequest()
                .build();
    }

    private AdmissionReview post(AdmissionReview review) throws Exception {
        var serialization = client.getKubernetesSerialization();
        HttpResponse<String> response = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(endpoint)
                                .timeout(Duration.ofSeconds(10))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(serialization.asJson(review)))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(200);
        return serialization.unmarshal(response.body(), AdmissionReview.class);
    }
}
