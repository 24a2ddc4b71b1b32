package dev.splitstream.entry.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.splitstream.protocol.Frame;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The agent's service list (SPLITSTREAM_ENTRY_EXPOSE): every form it accepts, and a clear error for each mistake. */
class ExposeSpecTest {
    private static final String KEY = "splitstream.entry.expose";

    @Test
    void tcpServiceWithAnyPort() {
        ExposeSpec s = ExposeSpec.parse(KEY, "ssh=127.0.0.1:22");
        assertThat(s.name()).isEqualTo("ssh");
        assertThat(s.kind()).isEqualTo(Frame.ServiceKind.TCP);
        assertThat(s.requestedPort()).isZero();
        assertThat(s.tls()).isFalse();
        assertThat(s.target()).isEqualTo(new HostPort("127.0.0.1", 22));
        assertThat(s.display()).isEqualTo("127.0.0.1:22");
    }

    @Test
    void tcpServiceAskingForAPublicPort() {
        ExposeSpec s = ExposeSpec.parse(KEY, "pg:10432=db.lan:5432");
        assertThat(s.requestedPort()).isEqualTo(10432);
        assertThat(s.target()).isEqualTo(new HostPort("db.lan", 5432));
    }

    @Test
    void httpAndHttpsServices() {
        ExposeSpec http = ExposeSpec.parse(KEY, "web=http://127.0.0.1:3000/");
        assertThat(http.kind()).isEqualTo(Frame.ServiceKind.HTTP);
        assertThat(http.tls()).isFalse();
        assertThat(http.display()).isEqualTo("http://127.0.0.1:3000");

        ExposeSpec https = ExposeSpec.parse(KEY, "secure=HTTPS://localhost:8443");
        assertThat(https.kind()).isEqualTo(Frame.ServiceKind.HTTP);
        assertThat(https.tls()).isTrue();
        assertThat(https.target()).isEqualTo(new HostPort("localhost", 8443));
        assertThat(https.display()).isEqualTo("https://localhost:8443");
    }

    @Test
    void aListSkipsBlanksAndKeepsOrder() {
        List<ExposeSpec> list = ExposeSpec.parseList(KEY, " ssh=127.0.0.1:22, ,web=http://127.0.0.1:80 ,");
        assertThat(list).extracting(ExposeSpec::name).containsExactly("ssh", "web");
    }

    @Test
    void mistakesGetClearErrorsNamingTheSetting() {
        assertError("ssh", "'ssh' is not name=host:port");
        assertError("=127.0.0.1:22", "is not name=host:port");
        assertError("SSH=127.0.0.1:22", "service name 'SSH' must be a-z, 0-9 and '-'");
        assertError("a_b=127.0.0.1:22", "service name 'a_b'");
        assertError("ssh=127.0.0.1", "'ssh=127.0.0.1' is not");
        assertError("ssh=127.0.0.1:70000", "'ssh=127.0.0.1:70000' is not");
        assertError("ssh:0=127.0.0.1:22", "'ssh:0=127.0.0.1:22' is not");
        assertError("web:8080=http://127.0.0.1:80", "an HTTP service gets no public port; drop ':8080'");
        assertError("web=http://127.0.0.1:80/app", "no path after host:port");
        assertError("ftp=ftp://127.0.0.1:21", "only http:// and https:// URLs");
    }

    @Test
    void namesMustBeDistinctAndTheListBounded() {
        assertThatThrownBy(() -> ExposeSpec.parseList(KEY, "a=127.0.0.1:1,a=127.0.0.1:2"))
                .isInstanceOf(ConfigException.class)
                .hasMessage(KEY + ": service 'a' is listed twice");
        String tooMany = IntStream.rangeClosed(1, Frame.Expose.MAX_SERVICES + 1)
                .mapToObj(i -> "s" + i + "=127.0.0.1:" + (1000 + i))
                .collect(Collectors.joining(","));
        assertThatThrownBy(() -> ExposeSpec.parseList(KEY, tooMany))
                .isInstanceOf(ConfigException.class)
                .hasMessage(KEY + ": at most " + Frame.Expose.MAX_SERVICES + " services");
        assertThat(ExposeSpec.parseList(KEY, tooMany.substring(0, tooMany.lastIndexOf(','))))
                .hasSize(Frame.Expose.MAX_SERVICES);
    }

    private static void assertError(String item, String fragment) {
        assertThatThrownBy(() -> ExposeSpec.parse(KEY, item))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith(KEY + ": ")
                .hasMessageContaining(fragment);
    }
}
