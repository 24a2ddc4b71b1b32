package dev.splitstream.exit.dashboard;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.splitstream.exit.route.RequestLog;
import dev.splitstream.exit.transport.ws.TestTunnel;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.specification.RequestSpecification;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import jakarta.inject.Inject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The dashboard's pages, JSON and server-sent events on the management interface, against real sessions over the
 * exit's WebSocket endpoint (test profile: token "test", dashboard password below).
 */
@QuarkusTest
class DashboardApiTest {
    static final String SECRET = "test-secret-0123456789-DO-NOT-LOG";
    static final String PASSWORD = "test-dashboard-pw-NOT-A-TOKEN";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static NetServer echo;

    @Inject
    Vertx vertx;

    @Inject
    RequestLog requestLog;

    @TestHTTPResource("/")
    URL tunnelPort;

    @TestHTTPResource(value = "/", management = true)
    URL management;

    @BeforeAll
    static void startEcho() throws Exception {
        Vertx v = io.quarkus.arc.Arc.container().instance(Vertx.class).get();
        echo = v.createNetServer(new NetServerOptions().setHost("127.0.0.1").setPort(0))
                .connectHandler(socket -> socket.handler(socket::write))
                .listen()
                .toCompletionStage()
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stopEcho() {
        if (echo != null) {
            echo.close();
        }
    }

    private RequestSpecification dashboard() {
        return given().baseUri("http://127.0.0.1").port(management.getPort());
    }

    private RequestSpecification authorized() {
        return dashboard().auth().preemptive().basic("admin", PASSWORD);
    }

    private JsonNode sessions() throws Exception {
        String body = authorized()
                .get("/dashboard/api/sessions")
                .then()
                .statusCode(200)
                .contentType("application/json")
                .extract()
                .asString();
        return JSON.readTree(body).get("sessions");
    }

    private static JsonNode find(JsonNode sessions, String tokenId) {
        for (JsonNode s : sessions) {
            if (s.get("tokenId").asText().equals(tokenId) && s.get("bytesUp").asLong() > 0) {
                return s;
            }
        }
        return null;
    }

    @Test
    void withoutTheRightCredentialsNothingIsServed() {
        for (String path : new String[] {"/dashboard/", "/dashboard/api/sessions", "/dashboard/api/events"}) {
            dashboard().get(path).then().statusCode(401).header("WWW-Authenticate", "Basic realm=\"splitstream\"");
            dashboard()
                    .auth()
                    .preemptive()
                    .basic("admin", "wrong-password-123")
                    .get(path)
                    .then()
                    .statusCode(401);
            dashboard()
                    .auth()
                    .preemptive()
                    .basic("root", PASSWORD)
                    .get(path)
                    .then()
                    .statusCode(401);
        }
    }

    @Test
    void theDashboardIsNotOnTheTunnelPort() {
        given().baseUri("http://127.0.0.1")
                .port(tunnelPort.getPort())
                .auth()
                .preemptive()
                .basic("admin", PASSWORD)
                .get("/dashboard/api/sessions")
                .then()
                .statusCode(404);
    }

    @Test
    void pagesAndAssetsComeFromTheNodeAndHoldNoSecret() {
        for (String page :
                new String[] {"/dashboard/", "/dashboard/agents", "/dashboard/requests", "/dashboard/refusals"}) {
            String html = authorized()
                    .get(page)
                    .then()
                    .statusCode(200)
                    .header("Content-Security-Policy", org.hamcrest.Matchers.containsString("default-src 'self'"))
                    .extract()
                    .asString();
            assertThat(html).contains("/dashboard/static/dashboard.js").doesNotContain(SECRET, PASSWORD);
            assertThat(html).doesNotContainPattern("(src|href)=\"https?://");
        }
        String js = authorized()
                .get("/dashboard/static/dashboard.js")
                .then()
                .statusCode(200)
                .extract()
                .asString();
        assertThat(js).contains("EventSource('/dashboard/api/events')").doesNotContain("http://", "https://");
        authorized()
                .get("/dashboard/static/dashboard.css")
                .then()
                .statusCode(200)
                .contentType("text/css");
        dashboard()
                .auth()
                .preemptive()
                .basic("admin", PASSWORD)
                .redirects()
                .follow(false)
                .get("/dashboard")
                .then()
                .statusCode(302)
                .header("Location", "/dashboard/");
    }

    @Test
    void sessionsListTokenTransportAddressBytesAndStreamsAndDropClosedSessions() throws Exception {
        TestTunnel t = TestTunnel.connect(vertx, tunnelPort.getPort());
        try {
            assertThat(t.handshake("test", SECRET)).isInstanceOf(Frame.Welcome.class);
            TestTunnel.Recorder r = t.open("127.0.0.1", echo.actualPort());
            r.accepted.get(10, TimeUnit.SECONDS);
            t.write(r, "x".repeat(5000));
            JsonNode s = await().atMost(Duration.ofSeconds(20))
                    .until(
                            () -> find(sessions(), "test"),
                            n -> n != null
                                    && n.get("bytesUp").asLong() == 5000
                                    && n.get("bytesDown").asLong() == 5000);
            assertThat(s.get("id").asText()).hasSize(32);
            assertThat(s.get("agent").isNull())
                    .as("no agent: the session exposes nothing")
                    .isTrue();
            assertThat(s.get("transport").asText()).isEqualTo("websocket");
            assertThat(s.get("remoteAddress").asText()).startsWith("127.0.0.1:");
            assertThat(s.get("streams").asInt()).isEqualTo(1);
            assertThat(s.get("attached").asBoolean()).isTrue();
            assertThat(java.time.Instant.parse(s.get("since").asText())).isBefore(java.time.Instant.now());
            String id = s.get("id").asText();
            t.close();
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                for (JsonNode n : sessions()) {
                    if (n.get("id").asText().equals(id)) {
                        return false;
                    }
                }
                return true;
            });
        } finally {
            t.close();
        }
    }

    @Test
    void eventsStreamSnapshotsOfSessionsRefusalsAgentsAndRequests() throws Exception {
        HttpClient client = HttpClient.newHttpClient();
        HttpRequest request = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + management.getPort() + "/dashboard/api/events"))
                .header(
                        "Authorization",
                        "Basic "
                                + Base64.getEncoder()
                                        .encodeToString(("admin:" + PASSWORD).getBytes(StandardCharsets.UTF_8)))
                .build();
        HttpResponse<java.io.InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValue("text/event-stream");
        try (BufferedReader reader =
                new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            int snapshots = 0;
            String event = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (snapshots < 2 && System.nanoTime() < deadline) {
                String line = reader.readLine();
                assertThat(line).as("event stream ended").isNotNull();
                if (line.startsWith("event: ")) {
                    event = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    assertThat(event).isEqualTo("snapshot");
                    JsonNode snapshot = JSON.readTree(line.substring(6));
                    assertThat(snapshot.get("sessions").isArray()).isTrue();
                    assertThat(snapshot.get("refusals").isArray()).isTrue();
                    assertThat(snapshot.get("agents").get("agents").isArray()).isTrue();
                    assertThat(snapshot.get("requests").get("requests").isArray())
                            .isTrue();
                    snapshots++;
                }
            }
            assertThat(snapshots).as("snapshots within 20 s").isEqualTo(2);
        }
    }

    @Test
    void requestsAreNewestFirstAndFilterByAgentAndStatusClass() throws Exception {
        String a = "reqlog-a-" + System.nanoTime();
        String b = "reqlog-b-" + System.nanoTime();
        requestLog.add(
                new RequestLog.Entry(Instant.now(), a, "web", RequestLog.Via.TOKEN, "GET", "/one", 200, 7, 0, 1234));
        requestLog.add(
                new RequestLog.Entry(Instant.now(), b, "api", RequestLog.Via.HOST, "POST", "/two", 502, 30, 99, 40));
        requestLog.add(
                new RequestLog.Entry(Instant.now(), a, "web", RequestLog.Via.HUB, "PUT", "/three", 404, 1, 5, 14));

        JsonNode onlyA = JSON.readTree(authorized()
                .queryParam("agent", a)
                .get("/dashboard/api/requests")
                .then()
                .statusCode(200)
                .header("cache-control", "no-store")
                .extract()
                .asString());
        assertThat(onlyA.get("available").asBoolean()).isTrue();
        JsonNode list = onlyA.get("requests");
        assertThat(list).hasSize(2);
        assertThat(list.get(0).get("path").asText()).isEqualTo("/three");
        assertThat(list.get(0).get("via").asText()).isEqualTo("hub");
        assertThat(list.get(0).get("statusClass").asText()).isEqualTo("4xx");
        JsonNode one = list.get(1);
        assertThat(one.get("method").asText()).isEqualTo("GET");
        assertThat(one.get("status").asInt()).isEqualTo(200);
        assertThat(one.get("latencyMillis").asLong()).isEqualTo(7);
        assertThat(one.get("bytesIn").asLong()).isEqualTo(0);
        assertThat(one.get("bytesOut").asLong()).isEqualTo(1234);
        assertThat(one.get("service").asText()).isEqualTo("web");

        JsonNode fiveXx = JSON.readTree(authorized()
                .queryParam("status", "5xx")
                .get("/dashboard/api/requests")
                .then()
                .statusCode(200)
                .extract()
                .asString());
        assertThat(fiveXx.get("requests")).isNotEmpty();
        fiveXx.get("requests").forEach(r -> assertThat(r.get("status").asInt()).isBetween(500, 599));
        assertThat(fiveXx.get("requests").get(0).get("agent").asText()).isEqualTo(b);

        JsonNode aTwoXx = JSON.readTree(authorized()
                .queryParam("agent", a)
                .queryParam("status", "2")
                .get("/dashboard/api/requests")
                .then()
                .statusCode(200)
                .extract()
                .asString());
        assertThat(aTwoXx.get("requests")).hasSize(1);
        assertThat(aTwoXx.get("requests").get(0).get("path").asText()).isEqualTo("/one");

        String bad = authorized()
                .queryParam("status", "200")
                .get("/dashboard/api/requests")
                .then()
                .statusCode(400)
                .extract()
                .asString();
        assertThat(bad).contains("status must be a class");
        dashboard().get("/dashboard/api/requests").then().statusCode(401);
    }

    @Test
    void refusalsListWrongTokensAndAllowListRefusalsWithoutSecrets() throws Exception {
        String wrongSecret = "wrong-secret-0123456789-ALSO-SECRET";
        try (TestTunnel bad = TestTunnel.connect(vertx, tunnelPort.getPort())) {
            Frame end = bad.handshake("test", wrongSecret);
            assertThat(end).isInstanceOfSatisfying(Frame.Close.class, c -> assertThat(c.code())
                    .isEqualTo(CloseCode.AUTH_FAILED));
        }
        try (TestTunnel t = TestTunnel.connect(vertx, tunnelPort.getPort())) {
            assertThat(t.handshake("test", SECRET)).isInstanceOf(Frame.Welcome.class);
            TestTunnel.Recorder r = t.open("10.1.2.3", 80);
            assertThat(r.reset.get(10, TimeUnit.SECONDS)).contains("NOT_ALLOWED");
        }
        String body = authorized()
                .get("/dashboard/api/refusals")
                .then()
                .statusCode(200)
                .extract()
                .asString();
        JsonNode refusals = JSON.readTree(body).get("refusals");
        assertThat(refusals.findValuesAsText("reason")).contains("AUTH_FAILED", "NOT_ALLOWED");
        assertThat(refusals.findValuesAsText("kind")).contains("handshake", "stream");
        assertThat(body).contains("10.1.2.3").doesNotContain(SECRET, wrongSecret, PASSWORD);
    }

    @Test
    void credentialsAreComparedWhole() {
        var provider = DashboardRoutes.credentials("admin", "right-password-1");
        assertThat(provider.authenticate(new io.vertx.ext.auth.authentication.UsernamePasswordCredentials(
                                "admin", "right-password-1"))
                        .succeeded())
                .isTrue();
        for (String[] wrong : new String[][] {
            {"admin", "right-password-"}, {"admin", "right-password-12"}, {"admin ", "right-password-1"}, {"", ""}
        }) {
            assertThat(provider.authenticate(new io.vertx.ext.auth.authentication.UsernamePasswordCredentials(
                                    wrong[0], wrong[1]))
                            .failed())
                    .as(String.join("/", wrong))
                    .isTrue();
        }
    }
}
