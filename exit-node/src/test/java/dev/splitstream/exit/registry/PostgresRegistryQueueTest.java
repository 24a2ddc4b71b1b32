package dev.splitstream.exit.registry;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.exit.config.TestConfigs;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The audit queue of a registry whose database is away: bounded, and it counts what it dropped. */
class PostgresRegistryQueueTest {

    @Test
    void aFullAuditQueueDropsTheOldestEventsAndCountsThem() {
        RegistrySettings settings = RegistrySettings.from(TestConfigs.config(Map.of(
                "splitstream.exit.registry", "postgres",
                "splitstream.exit.replica-id", "queue-test",
                "splitstream.exit.replica-url", "http://127.0.0.1:1",
                "splitstream.exit.cluster-secret", "0123456789abcdef0123")));
        // never started: nothing drains the queue, as during a database outage
        PostgresRegistry registry = new PostgresRegistry(settings, null);
        int extra = 7;
        for (int i = 0; i < PostgresRegistry.AUDIT_QUEUE + extra; i++) {
            registry.audit(event(i));
        }
        assertThat(registry.auditDropped()).isEqualTo(extra);
        ExitRegistry memory = new MemoryRegistry("memory");
        memory.audit(event(0));
        assertThat(memory.auditDropped()).isZero();
    }

    private static AuditEvent event(int i) {
        return new AuditEvent(
                Instant.now(),
                "dial",
                "s",
                "t",
                "127.0.0.1",
                "websocket",
                "127.0.0.1:1",
                0,
                0,
                "connected",
                0,
                "event " + i);
    }
}
