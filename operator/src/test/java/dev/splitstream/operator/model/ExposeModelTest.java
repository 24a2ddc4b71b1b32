package dev.splitstream.operator.model;

import static dev.splitstream.operator.model.TunnelResources.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.model.ExposeModel.ExposedService;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ExposeModelTest {
    private final Tunnel tunnel = Tunnels.expose(Tunnels.forward("shop", "prod"));

    @Test
    void parsesEveryServiceFormOfTheContract() {
        assertThat(ExposeModel.parse("ssh=ssh.shop.svc:22"))
                .isEqualTo(new ExposedService("ssh", Optional.empty(), Optional.empty(), "ssh.shop.svc:22"));
        assertThat(ExposeModel.parse("db:10005=10.0.0.7:5432"))
                .isEqualTo(new ExposedService("db", Optional.of(10005), Optional.empty(), "10.0.0.7:5432"));
        assertThat(ExposeModel.parse("web=http://web:8080").http()).isTrue();
        assertThat(ExposeModel.parse("api=https://api.shop.svc:443").scheme()).contains("https");
    }

    @Test
    void badServicesSayWhatAServiceLooksLike() {
        assertThatThrownBy(() -> ExposeModel.parse("web.shop.svc:8080"))
                .hasMessageContaining("is not name=host:port, name:PORT=host:port or name=http(s)://host:port");
        assertThatThrownBy(() -> ExposeModel.parse("Web=web:80")).hasMessageContaining("lower-case DNS label");
        assertThatThrownBy(() -> ExposeModel.parse("web=web")).hasMessageContaining("target 'web' is not host:port");
        assertThatThrownBy(() -> ExposeModel.parse("web:99999=web:80")).hasMessageContaining("not between 1 and 65535");
        assertThatThrownBy(() -> ExposeModel.parse("web:10000=http://web:80"))
                .hasMessageContaining("an HTTP service has no public port");
    }

    @Test
    void publicPortsServiceListsEveryPortOfTheRange() {
        tunnel.getSpec().expose.publicPorts.count = 3;
        Service service = ExposeModel.publicPortsService(tunnel);
        assertThat(service.getMetadata().getName()).isEqualTo("shop-exit-ports");
        assertThat(service.getMetadata().getOwnerReferences()).hasSize(1);
        assertThat(service.getSpec().getType()).isEqualTo("LoadBalancer");
        assertThat(service.getSpec().getSelector()).isEqualTo(selector(tunnel, COMPONENT_EXIT));
        assertThat(service.getSpec().getPorts())
                .extracting(p -> p.getName() + ":" + p.getPort() + "->"
                        + p.getTargetPort().getIntVal())
                .containsExactly("p-10000:10000->10000", "p-10001:10001->10001", "p-10002:10002->10002");
        assertThat(ExposeModel.publicPortRange(tunnel.getSpec().expose.publicPorts))
                .isEqualTo("10000-10002");
    }

    @Test
    void hostRoutesIngressHasTheWildcardHostAndNoSessionHashing() {
        tunnel.getSpec().expose.httpTlsSecretName = "apps-wildcard-tls";
        tunnel.getSpec().ingress.className = "nginx";
        tunnel.getSpec().ingress.annotations.put("cert-manager.io/cluster-issuer", "le");
        Ingress ingress = ExposeModel.routesIngress(tunnel);
        assertThat(ingress.getMetadata().getName()).isEqualTo("shop-routes");
        assertThat(ingress.getMetadata().getLabels()).containsEntry(LABEL_COMPONENT, COMPONENT_INGRESS);
        assertThat(ingress.getMetadata().getAnnotations())
                .containsEntry("nginx.ingress.kubernetes.io/proxy-buffering", "off")
                .containsEntry("nginx.ingress.kubernetes.io/proxy-request-buffering", "off")
                .containsEntry("cert-manager.io/cluster-issuer", "le")
                .doesNotContainKey("nginx.ingress.kubernetes.io/upstream-hash-by");
        assertThat(ingress.getSpec().getIngressClassName()).isEqualTo("nginx");
        var rule = ingress.getSpec().getRules().get(0);
        assertThat(rule.getHost()).isEqualTo("*.apps.example.com");
        assertThat(rule.getHttp().getPaths().get(0).getBackend().getService().getName())
                .isEqualTo("shop-exit");
        assertThat(rule.getHttp()
                        .getPaths()
                        .get(0)
                        .getBackend()
                        .getService()
                        .getPort()
                        .getName())
                .isEqualTo("http");
        assertThat(ingress.getSpec().getTls()).singleElement().satisfies(tls -> {
            assertThat(tls.getHosts()).containsExactly("*.apps.example.com");
            assertThat(tls.getSecretName()).isEqualTo("apps-wildcard-tls");
        });
    }

    @Test
    void whatAnExposeTunnelNeedsFollowsItsSpec() {
        assertThat(ExposeModel.hasPublicPorts(tunnel)).isTrue();
        assertThat(ExposeModel.hasHostRoutes(tunnel)).isTrue();
        assertThat(ExposeModel.hasRouteToken(tunnel)).isTrue();
        assertThat(ExposeModel.hasHub(tunnel)).isFalse();

        tunnel.getSpec().expose.services = List.of("ssh=ssh.shop.svc:22");
        assertThat(ExposeModel.hasRouteToken(tunnel))
                .as("no HTTP service, no route token")
                .isFalse();
        tunnel.getSpec().expose.hub = true;
        assertThat(ExposeModel.hasHub(tunnel)).isTrue();

        tunnel.getSpec().mode = "forward";
        assertThat(ExposeModel.hasHub(tunnel))
                .as("expose settings count only in expose mode")
                .isFalse();
        assertThat(ExposeModel.hasPublicPorts(tunnel)).isFalse();
        assertThat(ExposeModel.hasHostRoutes(tunnel)).isFalse();
    }
}
