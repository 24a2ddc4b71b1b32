package dev.splitstream.exit.expose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.splitstream.bridge.StreamEndpoint;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.config.TestConfigs;
import dev.splitstream.exit.token.TokenRegistry;
import dev.splitstream.protocol.BufferBudget;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ExposeService} without Quarkus and without a session: what happens to a stream asked for an agent that is
 * unknown, lacks the service, or is away (the bounded queue, its timeout, abandoned waiters, release).
 */
class ExposeServiceTest {
    @TempDir
    Path dir;

    private Vertx vertx;
    private MemoryExposeStore store;
    private SimpleMeterRegistry registry;
    private ExposeService expose;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        Path tokens = dir.resolve("tokens.yaml");
        Files.writeString(
                tokens, "tokens:\n  - {id: alice, secret: alice-secret-0123456789, expose: {maxQueued: 2}}\n");
        ExitSettings settings = ExitSettings.from(TestConfigs.config(
                Map.of("splitstream.exit.tokens-file", tokens.toString(), "splitstream.exit.queue-timeout", "2s")));
        TokenRegistry tokenRegistry = new TokenRegistry(settings, vertx);
        // loads the tokens file as at start-up (package-private in the token package)
        java.lang.reflect.Method onStart =
                TokenRegistry.class.getDeclaredMethod("onStart", io.quarkus.runtime.StartupEvent.class);
        onStart.setAccessible(true);
        onStart.invoke(tokenRegistry, (Object) null);
        store = new MemoryExposeStore();
        registry = new SimpleMeterRegistry();
        expose = new ExposeService(
                vertx, settings, tokenRegistry, store, registry, new RouteTokens(), BufferBudget.unlimited());
        // an agent that announced once and is away now (its session ended, its lease counts down)
        store.putAgent(new AgentRecord(
                "laptop",
                "alice",
                false,
                Instant.now(),
                List.of(new AgentRecord.ServiceRecord("web", "http", "http://127.0.0.1:8080", 0))));
    }

    @AfterEach
    void stop() {
        vertx.close().toCompletionStage().toCompletableFuture().join();
    }

    /** Records what the exit tells the endpoint; can be told it was abandoned (its client went away). */
    private static final class Recorder implements StreamEndpoint {
        final AtomicReference<ResetCode> failed = new AtomicReference<>();
        final AtomicReference<String> message = new AtomicReference<>();
        volatile boolean opened;
        volatile boolean abandoned;

        @Override
        public void onOpen(Stream s) {
            opened = true;
        }

        @Override
        public void onOpenFailed(ResetCode code, String why) {
            message.set(why);
            failed.set(code);
        }

        @Override
        public boolean isAbandoned() {
            return abandoned;
        }

        @Override
        public void onAccepted(Stream s) {}

        @Override
        public void onData(Stream s, ByteBuffer data) {}

        @Override
        public void onFin(Stream s) {}

        @Override
        public void onReset(Stream s, ResetCode code, String why) {}

        @Override
        public void onWritable(Stream s) {}
    }

    private double queuedGauge() {
        return registry.get("splitstream.exit.expose.queued").gauge().value();
    }

    @Test
    void anUnknownAgentOrServiceIsRefusedAtOnceWithoutQueueing() {
        Recorder nobody = new Recorder();
        expose.openStream("desk", "web", nobody);
        assertThat(nobody.failed.get()).isEqualTo(ResetCode.NOT_ALLOWED);
        assertThat(nobody.message.get()).isEqualTo("no agent desk");

        Recorder noService = new Recorder();
        expose.openStream("laptop", "ssh", noService);
        assertThat(noService.failed.get()).isEqualTo(ResetCode.NOT_ALLOWED);
        assertThat(noService.message.get()).contains("has no service ssh");
        assertThat(expose.queuedConnections()).isZero();
    }

    @Test
    void aStreamForAnAwayAgentWaitsAndTimesOutAfterTheQueueTimeout() {
        Recorder waiting = new Recorder();
        long t0 = System.nanoTime();
        expose.openStream("laptop", "web", waiting);
        assertThat(waiting.failed.get()).as("waits while the agent is away").isNull();
        assertThat(expose.queuedConnections()).isEqualTo(1);
        assertThat(queuedGauge()).isEqualTo(1.0);

        await().atMost(Duration.ofSeconds(10)).until(() -> waiting.failed.get() != null);
        assertThat(waiting.failed.get()).isEqualTo(ResetCode.TIMEOUT);
        assertThat(waiting.message.get()).contains("did not come back within 2000ms");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofMillis(1900));
        assertThat(waiting.opened).isFalse();
        assertThat(expose.queuedConnections()).isZero();
    }

    @Test
    void theQueueIsBoundedByTheTokensMaxQueuedAndAbandonedWaitersLeaveIt() {
        Recorder first = new Recorder();
        Recorder second = new Recorder();
        expose.openStream("laptop", "web", first);
        expose.openStream("laptop", "web", second);
        assertThat(expose.queuedConnections()).isEqualTo(2);

        Recorder third = new Recorder();
        expose.openStream("laptop", "web", third);
        await().atMost(Duration.ofSeconds(5)).until(() -> third.failed.get() != null);
        assertThat(third.failed.get()).isEqualTo(ResetCode.TOO_MANY_STREAMS);
        assertThat(third.message.get()).contains("2 connections already wait");

        // a waiter whose client went away frees its place for the next one
        first.abandoned = true;
        Recorder fourth = new Recorder();
        expose.openStream("laptop", "web", fourth);
        assertThat(expose.queuedConnections()).isEqualTo(2);
        assertThat(fourth.failed.get()).isNull();
    }

    @Test
    void releasingAnAgentFailsItsWaitersAndForgetsIt() {
        Recorder waiting = new Recorder();
        expose.openStream("laptop", "web", waiting);
        assertThat(expose.release("laptop", "bob"))
                .as("another token cannot release it")
                .isFalse();
        assertThat(waiting.failed.get()).isNull();

        assertThat(expose.release("laptop", "alice")).isTrue();
        assertThat(waiting.failed.get()).isEqualTo(ResetCode.CONNECT_FAILED);
        assertThat(waiting.message.get()).isEqualTo("agent laptop was released");
        assertThat(expose.agent("laptop")).isEmpty();
        assertThat(expose.queuedConnections()).isZero();
        assertThat(expose.release("laptop", null)).as("gone already").isFalse();

        Recorder after = new Recorder();
        expose.openStream("laptop", "web", after);
        assertThat(after.failed.get()).isEqualTo(ResetCode.NOT_ALLOWED);
    }
}
