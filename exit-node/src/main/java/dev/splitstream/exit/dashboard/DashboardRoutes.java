package dev.splitstream.exit.dashboard;

import dev.splitstream.exit.config.SplitstreamConfig;
import dev.splitstream.exit.route.RequestLog;
import io.quarkus.qute.Location;
import io.quarkus.qute.Template;
import io.quarkus.vertx.http.ManagementInterface;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.auth.User;
import io.vertx.ext.auth.authentication.AuthenticationProvider;
import io.vertx.ext.auth.authentication.UsernamePasswordCredentials;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BasicAuthHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.jboss.logging.Logger;

/**
 * The exit's web dashboard on the Quarkus management interface: pages under {@code /dashboard/} (Qute), their data as
 * JSON under {@code /dashboard/api/}, live updates as server-sent events ({@code /dashboard/api/events}, one snapshot
 * a second). Behind HTTP Basic credentials (splitstream.exit.dashboard.user/password); without a password nothing is
 * served. The page's script and style ship in the jar: no CDN, works offline.
 */
@ApplicationScoped
public class DashboardRoutes {
    private static final Logger LOG = Logger.getLogger(DashboardRoutes.class);
    /** Shortest password accepted. */
    static final int MIN_PASSWORD = 12;
    /** Most event streams open at once (each costs a timer and a snapshot a second). */
    static final int MAX_EVENT_STREAMS = 16;

    static final long EVENT_INTERVAL_MILLIS = 1000;
    private static final Map<String, String> PAGES = Map.of(
            "", "sessions",
            "agents", "agents",
            "requests", "requests",
            "refusals", "refusals");

    private final SplitstreamConfig config;
    private final DashboardData data;
    private final Vertx vertx;
    private final Template page;
    private final AtomicInteger eventStreams = new AtomicInteger();
    private final Buffer script = resource("dashboard/dashboard.js");
    private final Buffer style = resource("dashboard/dashboard.css");

    public DashboardRoutes(
            SplitstreamConfig config, DashboardData data, Vertx vertx, @Location("dashboard/page.html") Template page) {
        this.config = config;
        this.data = data;
        this.vertx = vertx;
        this.page = page;
    }

    void register(@Observes ManagementInterface management) {
        Optional<String> password = config.exit().dashboard().password().filter(p -> !p.isEmpty());
        if (password.isEmpty()) {
            LOG.info(
                    "dashboard off (set SPLITSTREAM_EXIT_DASHBOARD_PASSWORD to serve /dashboard/ on the management port)");
            return;
        }
        if (password.get().length() < MIN_PASSWORD) {
            throw new io.quarkus.runtime.configuration.ConfigurationException(
                    "splitstream.exit.dashboard.password: at least " + MIN_PASSWORD + " characters",
                    java.util.Set.of("splitstream.exit.dashboard.password"));
        }
        String user = config.exit().dashboard().user();
        Router router = management.router();
        router.route("/dashboard*")
                .handler(BasicAuthHandler.create(credentials(user, password.get()), "splitstream"))
                // a browser's first request comes without credentials: answer the challenge, log nothing
                .failureHandler(ctx -> {
                    if (ctx.statusCode() == 401 && !ctx.response().ended()) {
                        ctx.response().setStatusCode(401).end();
                    } else {
                        ctx.next();
                    }
                });
        router.getWithRegex("/dashboard").handler(ctx -> ctx.redirect("/dashboard/"));
        PAGES.forEach((path, name) -> router.get("/dashboard/" + path).handler(ctx -> page(ctx, name)));
        router.get("/dashboard/static/dashboard.js").handler(ctx -> asset(ctx, script, "text/javascript"));
        router.get("/dashboard/static/dashboard.css").handler(ctx -> asset(ctx, style, "text/css"));
        router.get("/dashboard/api/sessions").handler(ctx -> json(ctx, data.sessionsJson()));
        router.get("/dashboard/api/refusals").handler(ctx -> json(ctx, Future.succeededFuture(data.refusalsJson())));
        router.get("/dashboard/api/agents").handler(ctx -> json(ctx, Future.succeededFuture(data.agentsJson())));
        router.get("/dashboard/api/requests").handler(this::requests);
        router.get("/dashboard/api/events").handler(this::events);
        LOG.infof("dashboard on /dashboard/ of the management interface (user %s)", user);
    }

    /** Checks Basic credentials in constant time; the password is never logged or echoed. */
    static AuthenticationProvider credentials(String user, String password) {
        byte[] expectedUser = user.getBytes(StandardCharsets.UTF_8);
        byte[] expectedPassword = password.getBytes(StandardCharsets.UTF_8);
        return new AuthenticationProvider() {
            @Override
            @SuppressWarnings("deprecation")
            public void authenticate(
                    io.vertx.core.json.JsonObject credentials,
                    io.vertx.core.Handler<io.vertx.core.AsyncResult<User>> handler) {
                authenticate(new UsernamePasswordCredentials(credentials)).onComplete(handler);
            }

            @Override
            public Future<User> authenticate(io.vertx.ext.auth.authentication.Credentials credentials) {
                if (!(credentials instanceof UsernamePasswordCredentials c)
                        || c.getUsername() == null
                        || c.getPassword() == null) {
                    return Future.failedFuture("credentials required");
                }
                boolean userOk =
                        MessageDigest.isEqual(expectedUser, c.getUsername().getBytes(StandardCharsets.UTF_8));
                boolean passwordOk =
                        MessageDigest.isEqual(expectedPassword, c.getPassword().getBytes(StandardCharsets.UTF_8));
                return userOk && passwordOk
                        ? Future.succeededFuture(User.fromName(c.getUsername()))
                        : Future.failedFuture("wrong user name or password");
            }
        };
    }

    /** {@code ?agent=<name>&status=2xx}: both optional; a status that is no class is a 400 that says why. */
    private void requests(RoutingContext ctx) {
        String agent = ctx.request().getParam("agent");
        String status = ctx.request().getParam("status");
        Optional<String> statusClass = RequestLog.parseStatusClass(status);
        if (status != null && !status.isBlank() && statusClass.isEmpty()) {
            secure(ctx.response())
                    .setStatusCode(400)
                    .putHeader("content-type", "text/plain; charset=utf-8")
                    .end("status must be a class: 1xx, 2xx, 3xx, 4xx or 5xx\n");
            return;
        }
        Optional<String> agentFilter =
                Optional.ofNullable(agent).map(String::trim).filter(a -> !a.isEmpty());
        json(ctx, Future.succeededFuture(data.requestsJson(agentFilter, statusClass, RequestLog.CAPACITY)));
    }

    private void page(RoutingContext ctx, String name) {
        page.data("page", name).renderAsync().whenComplete((html, failure) -> {
            if (failure != null) {
                LOG.warnf("dashboard page %s: %s", name, failure.toString());
                ctx.fail(500);
                return;
            }
            secure(ctx.response())
                    .putHeader("content-type", "text/html; charset=utf-8")
                    .end(html);
        });
    }

    private static void asset(RoutingContext ctx, Buffer body, String type) {
        secure(ctx.response())
                .putHeader("content-type", type + "; charset=utf-8")
                .putHeader("cache-control", "no-cache")
                .end(body);
    }

    private static void json(RoutingContext ctx, Future<?> body) {
        body.onComplete(ar -> {
            if (ar.failed()) {
                ctx.fail(500, ar.cause());
                return;
            }
            secure(ctx.response())
                    .putHeader("content-type", "application/json")
                    .putHeader("cache-control", "no-store")
                    .end(ar.result().toString());
        });
    }

    /** Server-sent events: a {@code snapshot} event at once and every second, until the client goes away. */
    private void events(RoutingContext ctx) {
        if (eventStreams.incrementAndGet() > MAX_EVENT_STREAMS) {
            eventStreams.decrementAndGet();
            ctx.response().setStatusCode(503).end("too many dashboard event streams (max " + MAX_EVENT_STREAMS + ")");
            return;
        }
        HttpServerResponse response = secure(ctx.response())
                .setChunked(true)
                .putHeader("content-type", "text/event-stream")
                .putHeader("cache-control", "no-store")
                .putHeader("x-accel-buffering", "no");
        response.write(": splitstream dashboard\n\n");
        long timer = vertx.setPeriodic(1, EVENT_INTERVAL_MILLIS, id -> {
            if (response.writeQueueFull()) {
                return; // a slow reader skips snapshots instead of queueing them
            }
            data.snapshotJson().onSuccess(snapshot -> {
                if (!response.closed() && !response.ended()) {
                    response.write("event: snapshot\ndata: " + snapshot + "\n\n");
                }
            });
        });
        Runnable closed = () -> {
            if (vertx.cancelTimer(timer)) {
                eventStreams.decrementAndGet();
            }
        };
        response.closeHandler(v -> closed.run());
        response.exceptionHandler(e -> closed.run());
    }

    private static HttpServerResponse secure(HttpServerResponse response) {
        return response.putHeader("x-content-type-options", "nosniff")
                .putHeader("x-frame-options", "DENY")
                .putHeader("referrer-policy", "no-referrer")
                .putHeader(
                        "content-security-policy",
                        "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    }

    private static Buffer resource(String path) {
        try (InputStream in = Thread.currentThread().getContextClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException(path + " is missing from the jar");
            }
            return Buffer.buffer(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
