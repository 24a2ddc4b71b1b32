package dev.splitstream.exit.transport.http;

import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.vertx.http.HttpServerOptionsCustomizer;
import io.vertx.core.http.HttpServerOptions;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Map;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * Test profile: the HTTP server's sockets get a small send buffer, so a client that stops reading fills the exit's
 * write queue at once instead of the kernel's (loopback buffers take megabytes).
 */
public class SmallSendBuffer implements QuarkusTestProfile {
    static final String KEY = "splitstream-test.http-send-buffer";

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(KEY, "8192");
    }

    /** Applies {@value #KEY} when set (only under this profile). */
    @ApplicationScoped
    public static class Customizer implements HttpServerOptionsCustomizer {
        @Override
        public void customizeHttpServer(HttpServerOptions options) {
            ConfigProvider.getConfig().getOptionalValue(KEY, Integer.class).ifPresent(options::setSendBufferSize);
        }
    }
}
