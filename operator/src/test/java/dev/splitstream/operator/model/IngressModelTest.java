package dev.splitstream.operator.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import java.util.Map;
import org.junit.jupiter.api.Test;

class IngressModelTest {
    @Test
    void splitTunnelGetsOneIngressPerDomainWithItsOwnTlsSecret() {
        Tunnel tunnel = Tunnels.split("t", "ns");
        assertThat(IngressModel.hasUpstream(tunnel)).isTrue();
        assertThat(IngressModel.hasDownstream(tunnel)).isTrue();

        Ingress up = IngressModel.upstream(tunnel);
        Ingress down = IngressModel.downstream(tunnel);
        assertThat(up.getMetadata().getName()).isEqualTo("t-upstream");
        assertThat(down.getMetadata().getName()).isEqualTo("t-downstream");
        assertThat(up.getSpec().getIngressClassName()).isEqualTo("nginx");
        assertThat(up.getSpec().getRules()).singleElement().satisfies(rule -> {
            assertThat(rule.getHost()).isEqualTo("up.example.com");
            var path = rule.getHttp().getPaths().get(0);
            assertThat(path.getPath()).isEqualTo("/");
            assertThat(path.getPathType()).isEqualTo("Prefix");
            assertThat(path.getBackend().getService().getName()).isEqualTo("t-exit");
            assertThat(path.getBackend().getService().getPort().getName()).isEqualTo("http");
        });
        assertThat(up.getSpec().getTls()).singleElement().satisfies(tls -> {
            assertThat(tls.getHosts()).containsExactly("up.example.com");
            assertThat(tls.getSecretName()).isEqualTo("up-tls");
        });
        assertThat(down.getSpec().getTls()).singleElement().satisfies(tls -> {
            assertThat(tls.getHosts()).containsExactly("down.example.net");
            assertThat(tls.getSecretName()).isEqualTo("down-tls");
        });
        assertThat(down.getMetadata().getOwnerReferences()).singleElement().satisfies(ref -> assertThat(ref.getUid())
                .isEqualTo(tunnel.getMetadata().getUid()));
        assertThat(up.getMetadata().getLabels()).containsEntry("splitstream.dev/leg", "upstream");
        assertThat(down.getMetadata().getLabels()).containsEntry("splitstream.dev/leg", "downstream");
    }

    @Test
    void equalDomainsMakeOneIngress() {
        Tunnel tunnel = Tunnels.split("t", "ns");
        tunnel.getSpec().domains.downstream = "up.example.com";
        assertThat(IngressModel.hasUpstream(tunnel)).isTrue();
        assertThat(IngressModel.hasDownstream(tunnel)).isFalse();
        assertThat(IngressModel.upstream(tunnel).getMetadata().getLabels())
                .containsEntry("splitstream.dev/leg", "both");

        tunnel.getSpec().domains.downstream = null;
        assertThat(IngressModel.hasDownstream(tunnel)).isFalse();
    }

    @Test
    void noDomainNoIngress() {
        Tunnel tunnel = Tunnels.forward("t", "ns");
        assertThat(IngressModel.hasUpstream(tunnel)).isFalse();
        assertThat(IngressModel.hasDownstream(tunnel)).isFalse();
    }

    @Test
    void annotationsKeepStreamsOpenUnbufferedAndHashOnTheSessionHeader() {
        Tunnel tunnel = Tunnels.split("t", "ns");
        Map<String, String> annotations =
                IngressModel.upstream(tunnel).getMetadata().getAnnotations();
        assertThat(annotations)
                .containsEntry("nginx.ingress.kubernetes.io/proxy-read-timeout", "3600")
                .containsEntry("nginx.ingress.kubernetes.io/proxy-send-timeout", "3600")
                .containsEntry("nginx.ingress.kubernetes.io/proxy-buffering", "off")
                .containsEntry("nginx.ingress.kubernetes.io/proxy-request-buffering", "off")
                .containsEntry("nginx.ingress.kubernetes.io/upstream-hash-by", "$http_x_splitstream_session");
    }

    @Test
    void userAnnotationsOverrideTheOperatorsOwn() {
        Tunnel tunnel = Tunnels.split("t", "ns");
        tunnel.getSpec().ingress.annotations = Map.of(
                "nginx.ingress.kubernetes.io/proxy-read-timeout", "600",
                "cert-manager.io/cluster-issuer", "letsencrypt");
        Map<String, String> annotations =
                IngressModel.downstream(tunnel).getMetadata().getAnnotations();
        assertThat(annotations)
                .containsEntry("nginx.ingress.kubernetes.io/proxy-read-timeout", "600")
                .containsEntry("cert-manager.io/cluster-issuer", "letsencrypt")
                .containsEntry("nginx.ingress.kubernetes.io/proxy-buffering", "off");
    }
}
