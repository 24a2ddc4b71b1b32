package dev.splitstream.e2e;

import static dev.splitstream.e2e.harness.Transfers.figure;
import static org.assertj.core.api.Assertions.assertThat;

import dev.splitstream.e2e.fixture.PostgresFixture;
import dev.splitstream.e2e.fixture.RedisFixture;
import dev.splitstream.e2e.fixture.SshdFixture;
import dev.splitstream.e2e.harness.Exec;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Ports;
import dev.splitstream.e2e.harness.Programs;
import dev.splitstream.e2e.harness.Tunnel;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Real clients talk to real servers through a fixed forward: psql and pgbench, redis-cli and redis-benchmark, ssh. */
@ExtendWith(NodeLogs.class)
class RealServersE2E {
    private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(120);

    @Test
    void psqlAndPgbenchThroughAForward() {
        String psql = Programs.require("psql").toString();
        String pgbench = Programs.require("pgbench").toString();
        int forward = Ports.free();
        try (PostgresFixture postgres = PostgresFixture.start();
                Tunnel tunnel = Tunnel.start(
                        exit -> exit.allow("127.0.0.1:" + postgres.port()),
                        entry -> entry.forward(forward, "127.0.0.1", postgres.port()))) {
            Map<String, String> env = Map.of("PGCONNECT_TIMEOUT", "10", "PGUSER", "postgres", "PGDATABASE", "postgres");
            List<String> at = List.of("-h", "127.0.0.1", "-p", Integer.toString(forward));

            Exec.Result select = Exec.run(CLIENT_TIMEOUT, env, null, concat(psql, at, "-Atc", "select 40 + 2"))
                    .assertSuccess();
            assertThat(select.output().trim()).isEqualTo("42");

            Exec.run(CLIENT_TIMEOUT, env, null, concat(pgbench, at, "-i", "-q", "-s", "1"))
                    .assertSuccess();
            Exec.Result bench = Exec.run(
                            CLIENT_TIMEOUT, env, null, concat(pgbench, at, "-n", "-c", "4", "-j", "2", "-t", "200"))
                    .assertSuccess();
            assertThat(bench.output()).contains("number of transactions actually processed: 800/800");
            // the same run straight to PostgreSQL, for scale
            List<String> direct = List.of("-h", "127.0.0.1", "-p", Integer.toString(postgres.port()));
            Exec.Result baseline = Exec.run(
                            CLIENT_TIMEOUT, env, null, concat(pgbench, direct, "-n", "-c", "4", "-j", "2", "-t", "200"))
                    .assertSuccess();
            figure("pgbench -c 4 -t 200: " + tps(bench) + " tps through a forward, " + tps(baseline) + " tps direct");
        }
    }

    @Test
    void redisCliAndRedisBenchmarkThroughAForward() {
        String cli = Programs.require("redis-cli").toString();
        String benchmark = Programs.require("redis-benchmark").toString();
        int forward = Ports.free();
        try (RedisFixture redis = RedisFixture.start();
                Tunnel tunnel = Tunnel.start(
                        exit -> exit.allow("127.0.0.1:" + redis.port()),
                        entry -> entry.forward(forward, "127.0.0.1", redis.port()))) {
            List<String> at = List.of("-h", "127.0.0.1", "-p", Integer.toString(forward));
            assertThat(run(concat(cli, at, "PING")).trim()).isEqualTo("PONG");
            assertThat(run(concat(cli, at, "SET", "splitstream", "through-the-tunnel"))
                            .trim())
                    .isEqualTo("OK");
            assertThat(run(concat(cli, at, "GET", "splitstream")).trim()).isEqualTo("through-the-tunnel");

            String bench = run(concat(benchmark, at, "-n", "2000", "-q", "-t", "ping,set,get,incr,lpush,lpop"));
            assertThat(bench).contains("SET:", "GET:");
            assertThat(bench).doesNotContainIgnoringCase("error");
            bench.lines()
                    .filter(line -> line.contains("requests per second"))
                    .map(String::trim)
                    .forEach(line ->
                            figure("redis-benchmark -n 2000 through a forward: " + line.replaceAll(".*\\r", "")));
        }
    }

    @Test
    void sshRunsACommandThroughAForward() {
        int forward = Ports.free();
        try (SshdFixture sshd = SshdFixture.start();
                Tunnel tunnel = Tunnel.start(
                        exit -> exit.allow("127.0.0.1:" + sshd.port()),
                        entry -> entry.forward(forward, "127.0.0.1", sshd.port()))) {
            Exec.Result result = sshd.ssh(forward, CLIENT_TIMEOUT, "echo", "splitstream-ssh-ok")
                    .assertSuccess();
            assertThat(result.output()).contains("splitstream-ssh-ok");
            figure("ssh echo through a forward: " + result.elapsed().toMillis() + " ms");
        }
    }

    private static String tps(Exec.Result pgbench) {
        Matcher tps = Pattern.compile("tps = ([0-9]+)").matcher(pgbench.output());
        return tps.find() ? tps.group(1) : "?";
    }

    private static String run(String[] command) {
        return Exec.run(CLIENT_TIMEOUT, command).assertSuccess().output();
    }

    private static String[] concat(String program, List<String> at, String... args) {
        String[] all = new String[1 + at.size() + args.length];
        all[0] = program;
        for (int i = 0; i < at.size(); i++) {
            all[1 + i] = at.get(i);
        }
        System.arraycopy(args, 0, all, 1 + at.size(), args.length);
        return all;
    }
}
