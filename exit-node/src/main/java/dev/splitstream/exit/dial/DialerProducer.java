package dev.splitstream.exit.dial;

import dev.splitstream.bridge.Dialer;
import dev.splitstream.exit.config.ExitSettings;
import io.vertx.core.Vertx;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/** The node's one {@link Dialer} for targets, with {@code splitstream.exit.dial-timeout}; closed at shutdown. */
@ApplicationScoped
public class DialerProducer {
    @Produces
    @Singleton
    Dialer dialer(Vertx vertx, ExitSettings settings) {
        return new Dialer(vertx, settings.dialTimeout());
    }

    void close(@Disposes Dialer dialer) {
        dialer.close();
    }
}
