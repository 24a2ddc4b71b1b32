package dev.splitstream.entry;

import dev.splitstream.bridge.Budgets;
import dev.splitstream.entry.config.ConfigException;
import dev.splitstream.entry.config.EntrySettings;
import dev.splitstream.entry.config.ForwardSpec;
import dev.splitstream.entry.config.ListenSpec;
import dev.splitstream.entry.config.SplitstreamConfig;
import dev.splitstream.entry.listener.connect.HttpConnectListener;
import dev.splitstream.entry.listener.forward.ForwardListener;
import dev.splitstream.entry.listener.socks.SocksListener;
import dev.splitstream.entry.metrics.EntryMetrics;
import dev.splitstream.entry.session.SessionManager;
import dev.splitstream.entry.status.StatusScreen;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.FrameCodec;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.configuration.ConfigurationException;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/** Starts the entry node: checks the configuration, connects to the exit node, opens the local listeners. */
@ApplicationScoped
public class EntryNode {
    private static final Logger LOG = Logger.getLogger(EntryNode.class);
    private static final long LISTEN_TIMEOUT_SECONDS = 10;

    private final Vertx vertx;
    private final SplitstreamConfig config;
    private final SessionManager manager;
    private final EntryMetrics metrics;
    private final StatusScreen screen;
    private final List<NetServer> servers = new ArrayList<>();
    /** What listens where, for the status screen. */
    private final List<String> listening = new ArrayList<>();

    public EntryNode(
            Vertx vertx, SplitstreamConfig config, SessionManager manager, EntryMetrics metrics, StatusScreen screen) {
        this.vertx = vertx;
        this.config = config;
        this.manager = manager;
        this.metrics = metrics;
        this.screen = screen;
    }

    void onStart(@Observes StartupEvent event) {
        EntrySettings settings;
        try {
            settings = EntrySettings.from(config, System.getenv());
        } catch (ConfigException e) {
            throw new ConfigurationException(e.getMessage(), Set.of(e.key()));
        }
        String status = config.entry().status();
        if (!status.equals("auto") && !status.equals("off")) {
            throw new ConfigurationException(
                    "splitstream.entry.status: expected auto or off, got '" + status + "'",
                    Set.of("splitstream.entry.status"));
        }
        BufferBudget budget;
        try {
            budget = Budgets.create(
                    config.buffer().budget().map(MemorySize::asLongValue),
                    config.buffer().streamShare().asLongValue(),
                    config.buffer().stallTimeout());
        } catch (IllegalArgumentException e) {
            throw new ConfigurationException(
                    e.getMessage(),
                    Set.of(e.getMessage().substring(0, e.getMessage().indexOf(':'))));
        }
        Budgets.sweep(vertx, budget);
        if (settings.encryption()) {
            FrameCodec.warmUpInBackground();
        }
        manager.start(settings, budget);
        String via = manager.serverDisplay();
        settings.proxy()
                .ifPresent(p ->
                        LOG.infof("connecting to the exit node through proxy %s (from %s)", p.display(), p.source()));
        for (ForwardSpec f : settings.forwards()) {
            NetServer server =
                    await(ForwardListener.start(vertx, f, manager, metrics), EntrySettings.FORWARDS, f.listen());
            LOG.infof("forwarding %s → %s via %s", f.listen().display(server.actualPort()), f.target(), via);
            listening.add("forward " + f.listen().display(server.actualPort()) + " -> " + f.target());
        }
        settings.socks().ifPresent(s -> {
            NetServer server = await(
                    SocksListener.start(vertx, s, settings.socksAuth(), manager, metrics), EntrySettings.SOCKS, s);
            LOG.infof(
                    "socks5 listening on %s via %s%s",
                    s.display(server.actualPort()),
                    via,
                    settings.socksAuth().isPresent() ? " (username/password required)" : "");
            listening.add("socks5 " + s.display(server.actualPort())
                    + (settings.socksAuth().isPresent() ? " (username/password)" : ""));
        });
        settings.httpConnect().ifPresent(s -> {
            NetServer server =
                    await(HttpConnectListener.start(vertx, s, manager, metrics), EntrySettings.HTTP_CONNECT, s);
            LOG.infof("http-connect listening on %s via %s", s.display(server.actualPort()), via);
            listening.add("http-connect " + s.display(server.actualPort()));
        });
        if (servers.isEmpty() && settings.agent().isEmpty()) {
            LOG.warnf(
                    "no listener configured: set %s, %s or %s (or %s to expose services)",
                    EntrySettings.FORWARDS, EntrySettings.SOCKS, EntrySettings.HTTP_CONNECT, EntrySettings.EXPOSE);
        }
        if (screen.start(status, listening)) {
            LOG.info("status screen on (splitstream.entry.status=off for plain log lines)");
        }
    }

    private NetServer await(Future<NetServer> listening, String key, ListenSpec spec) {
        try {
            NetServer server =
                    listening.toCompletionStage().toCompletableFuture().get(LISTEN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            servers.add(server);
            return server;
        } catch (Exception e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new ConfigurationException(
                    key + ": cannot listen on " + spec.display(spec.port()) + ": " + cause.getMessage(), Set.of(key));
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        screen.stop();
        for (NetServer server : servers) {
            try {
                server.close().toCompletionStage().toCompletableFuture().get(2, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.debugf("closing a listener: %s", e.toString());
            }
        }
        manager.stop(2000);
        LOG.info(metrics.summary());
    }
}
