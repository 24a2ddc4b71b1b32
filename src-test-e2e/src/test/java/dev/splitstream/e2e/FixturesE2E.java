package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.HttpFixture;
import dev.splitstream.e2e.fixture.NginxFixture;
import dev.splitstream.e2e.fixture.PostgresFixture;
import dev.splitstream.e2e.fixture.RedisFixture;
import dev.splitstream.e2e.fixture.SquidFixture;
import dev.splitstream.e2e.fixture.SshdFixture;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Programs;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The real servers the other tests tunnel to, reached directly: when one of these fails, the fault is in the
 * fixture or the machine, not in Splitstream.
 */
@ExtendWith(NodeLogs.class)
class FixturesE2E {
    private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(60);

    @Test
    void postgresAnswersDirectly() {
        String psql = Programs.require("psql").toString();
        try (PostgresFixture postgres = PostgresFixture.start()) {
            Exec.Result result = Exec.run(
                            CLIENT_TIMEOUT,
                            Map.of("PGCONNECT_TIMEOUT", "10"),
                            null,
                            psql,
                            "-h",
                            "127.0.0.1",
                            "-p",
                            Integer.toString(postgres.port()),
                            "-U",
                            "postgres",
                            "-d",
                            "postgres",
                            "-Atc",
                            "select 40 + 2")
                    .assertSuccess();
            assertThat(result.output().trim()).isEqualTo("42");
        }
    }

    @Test
    void redisAnswersDirectly() {
        String cli = Programs.require("redis-cli").toString();
        try (RedisFixture redis = RedisFixture.start()) {
            Exec.Result result = Exec.run(
                            CLIENT_TIMEOUT, cli, "-h", "127.0.0.1", "-p", Integer.toString(redis.port()), "PING")
                    .assertSuccess();
            assertThat(result.output().trim()).isEqualTo("PONG");
        }
    }

    @Test
    void sshdRunsACommandDirectly() {
        try (SshdFixture sshd = SshdFixture.start()) {
            Exec.Result result =
                    sshd.ssh(sshd.port(), CLIENT_TIMEOUT, "echo", "direct-ok").assertSuccess();
            assertThat(result.output()).contains("direct-ok");
        }
    }

    @Test
    void squidTunnelsAConnectToLoopback() throws Exception {
        String curl = Programs.require("curl").toString();
        try (SquidFixture squid = SquidFixture.start();
                HttpFixture http = new HttpFixture()) {
            Exec.Result result = Exec.run(
                            CLIENT_TIMEOUT, curl, "-sS", "--max-time", "20", "-p", "-x", squid.url(), http.url())
                    .assertSuccess();
            assertThat(result.output()).isEqualTo(HttpFixture.BODY);
        }
    }

    @Test
    void nginxStartsWithTheShippedConfig() throws Exception {
        String curl = Programs.require("curl").toString();
        try (HttpFixture http = new HttpFixture();
                NginxFixture nginx = NginxFixture.start(http.port())) {
            // the shipped config proxies /splitstream/ only
            Exec.Result result = Exec.run(
                            CLIENT_TIMEOUT,
                            curl,
                            "-sS",
                            "--max-time",
                            "20",
                            "http://127.0.0.1:" + nginx.port() + "/splitstream/v1/ws")
                    .assertSuccess();
            assertThat(result.output()).isEqualTo(HttpFixture.BODY);
            Exec.Result hidden = Exec.run(
                            CLIENT_TIMEOUT,
                            curl,
                            "-sS",
                            "-o",
                            "/dev/null",
                            "-w",
                            "%{http_code}",
                            "--max-time",
                            "20",
                            "http://127.0.0.1:" + nginx.port() + "/q/health")
                    .assertSuccess();
            assertThat(hidden.output()).isEqualTo("404");
        }
    }
}
