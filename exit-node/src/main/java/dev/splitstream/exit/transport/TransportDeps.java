package dev.splitstream.exit.transport;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.relay.LegRelay;
import dev.splitstream.exit.session.SessionRegistry;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.ReplayGuard;
import io.vertx.core.Vertx;
import java.security.SecureRandom;

/** Node-wide collaborators every transport's legs share. */
public record TransportDeps(
        Vertx vertx,
        ExitSettings settings,
        TokenRegistry tokens,
        SessionRegistry sessions,
        ReplayGuard replay,
        ExitMetrics metrics,
        SecureRandom random,
        LegRelay relay) {}
