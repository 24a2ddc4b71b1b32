package dev.splitstream.exit.relay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.protocol.Secret;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class ClusterAuthTest {
    private static final Secret SECRET = Secret.ofText("cluster-secret-0123456789");
    private static final Clock NOW = Clock.fixed(Instant.parse("2026-11-29T20:00:00Z"), ZoneOffset.UTC);

    @Test
    void aSignatureVerifiesForTheSameClientAddressOnly() {
        ClusterAuth r1 = new ClusterAuth(SECRET, "r1", NOW);
        String header = r1.sign("10.0.0.7:51234");
        assertThat(new ClusterAuth(SECRET, "r2", NOW).verify(header, "10.0.0.7:51234"))
                .contains("r1");
        assertThat(r1.verify(header, "10.0.0.8:51234")).isEmpty();
    }

    @Test
    void anotherSecretOrATamperedHeaderIsRefused() {
        String header = new ClusterAuth(SECRET, "r1", NOW).sign("c");
        ClusterAuth other = new ClusterAuth(Secret.ofText("another-secret-0123456789"), "r2", NOW);
        assertThat(other.verify(header, "c")).isEmpty();
        ClusterAuth r2 = new ClusterAuth(SECRET, "r2", NOW);
        assertThat(r2.verify(header.replace("r1:", "r3:"), "c")).isEmpty();
        assertThat(r2.verify("garbage", "c")).isEmpty();
        assertThat(r2.verify("r1:notanumber:00", "c")).isEmpty();
        assertThat(r2.verify(null, "c")).isEmpty();
        assertThat(r2.verify("x".repeat(300), "c")).isEmpty();
    }

    @Test
    void aStaleSignatureIsRefused() {
        String header = new ClusterAuth(SECRET, "r1", NOW).sign("c");
        Clock later = Clock.offset(NOW, java.time.Duration.ofSeconds(ClusterAuth.MAX_SKEW_SECONDS + 5));
        assertThat(new ClusterAuth(SECRET, "r2", later).verify(header, "c")).isEmpty();
    }

    @Test
    void theSecretNeverAppearsInTheHeader() {
        String header = new ClusterAuth(SECRET, "r1", NOW).sign("c");
        assertThat(header).doesNotContain("cluster-secret");
    }
}
