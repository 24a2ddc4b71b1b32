package dev.splitstream.exit.transport.ws;

import io.quarkus.vertx.http.HttpServerOptionsCustomizer;
import io.quarkus.websockets.next.HttpUpgradeCheck;
import io.smallrye.mutiny.Uni;
import io.vertx.core.http.HttpServerOptions;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.Map;

/**
 * Unmasked client frames between our own nodes. RFC 6455 makes clients mask every frame (XOR with a random key, to
 * protect caches in browsers' paths); masking and unmasking every byte was the largest single cost of a bulk transfer
 * on both nodes. Our entry is not a browser, so it offers {@value #HEADER}{@code : 1} on the upgrade request; the exit
 * confirms it in the 101 response, and only then does the entry send its frames unmasked. A proxy that strips the
 * header leaves both ends masking; one that passes it but refuses unmasked frames makes the first connection fail
 * before its handshake, after which the entry masks again (entry {@code WebSocketTransport}).
 *
 * <p>The server accepts masked and unmasked frames alike (Netty's {@code allowMaskMismatch}), so entry nodes of any
 * version keep working.
 */
@ApplicationScoped
public class UnmaskedFrames implements HttpServerOptionsCustomizer, HttpUpgradeCheck {
    /** Request header of the offer and response header of its acceptance (wire contract with the entry node). */
    public static final String HEADER = "X-Splitstream-Unmasked";

    private static final Uni<CheckResult> ACCEPTED = CheckResult.permitUpgrade(Map.of(HEADER, List.of("1")));

    @Override
    public void customizeHttpServer(HttpServerOptions options) {
        options.setAcceptUnmaskedFrames(true);
    }

    @Override
    public void customizeHttpsServer(HttpServerOptions options) {
        options.setAcceptUnmaskedFrames(true);
    }

    @Override
    public Uni<CheckResult> perform(HttpUpgradeContext context) {
        return "1".equals(context.httpRequest().getHeader(HEADER)) ? ACCEPTED : CheckResult.permitUpgrade();
    }

    @Override
    public boolean appliesTo(String endpointId) {
        return true;
    }
}
