package dev.splitstream.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.splitstream.e2e.harness.Node;
import dev.splitstream.e2e.harness.NodeLogs;
import dev.splitstream.e2e.harness.Tunnel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The Grafana dashboard (deploy/grafana/) and the alert rules (deploy/prometheus/) only name metrics that running
 * nodes export, with label values they use: a typo in a query, or a metric renamed in the code, fails here.
 */
@ExtendWith(NodeLogs.class)
class MetricsContractE2E {
    /** Series Prometheus makes itself, not the nodes. */
    private static final Set<String> PROMETHEUS_OWN = Set.of("up");

    private static final Set<String> PROMQL_WORDS = Set.of(
            "and",
            "or",
            "unless",
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "bool",
            "offset",
            "inf",
            "nan");
    /** Exact-match label matchers: name{label="value"}. */
    private static final Pattern MATCHER = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\{([^}]*)}");

    private static final Pattern EQUALS = Pattern.compile("([a-zA-Z_]+)\\s*=\\s*\"([^\"]*)\"");

    @Test
    void everyMetricTheDashboardAndTheAlertsUseIsExported() throws Exception {
        Path root = Node.repoRoot();
        List<String> expressions = new ArrayList<>();
        JsonNode dashboard = new ObjectMapper()
                .readTree(root.resolve("deploy/grafana/splitstream.json").toFile());
        dashboard.findValues("expr").forEach(e -> expressions.add(e.asText()));
        for (String line : Files.readAllLines(root.resolve("deploy/prometheus/splitstream-alerts.yml"))) {
            String t = line.trim();
            if (t.startsWith("expr:")) {
                expressions.add(t.substring("expr:".length()).trim());
            }
        }
        assertThat(expressions).as("queries found").hasSizeGreaterThan(15);

        // the entry is an agent with an HTTP service, so its route request series exist (at zero)
        try (Tunnel tunnel = Tunnel.start(
                exit -> exit.allow("127.0.0.1:*"), entry -> entry.set("splitstream.entry.agent", "contract")
                        .set("splitstream.entry.expose", "web=http://127.0.0.1:9"))) {
            String exported = tunnel.exit().metrics() + "\n" + tunnel.entry().metrics();
            Set<String> names = exportedNames(exported);
            assertThat(names).as("exported names").contains("splitstream_exit_sessions", "splitstream_entry_connected");

            Set<String> missing = new TreeSet<>();
            Set<String> missingLabels = new TreeSet<>();
            for (String expr : expressions) {
                for (String name : metricNames(expr)) {
                    if (!PROMETHEUS_OWN.contains(name) && !names.contains(name)) {
                        missing.add(name + "   (in: " + expr + ")");
                    }
                }
                Matcher m = MATCHER.matcher(expr);
                while (m.find()) {
                    if (PROMETHEUS_OWN.contains(m.group(1))) {
                        continue;
                    }
                    Matcher eq = EQUALS.matcher(m.group(2));
                    while (eq.find()) {
                        String series = m.group(1) + "{";
                        String label = eq.group(1) + "=\"" + eq.group(2) + "\"";
                        boolean found = exported.lines().anyMatch(l -> l.startsWith(series) && l.contains(label));
                        if (!found) {
                            missingLabels.add(m.group(1) + " " + label);
                        }
                    }
                }
            }
            assertThat(missing).as("metric names used but not exported").isEmpty();
            assertThat(missingLabels).as("label values used but never exported").isEmpty();
        }
    }

    @Test
    void theNameExtractionSeesATypo() {
        assertThat(metricNames(
                        "sum by (reason) (rate(splitstream_exit_handshake_failures_totl{reason=\"x\"}[5m])) > 2"))
                .containsExactly("splitstream_exit_handshake_failures_totl");
        assertThat(metricNames("sum by (instance) (splitstream_exit_sessions) / max by (instance) (splitstrem_max)"))
                .containsExactly("splitstream_exit_sessions", "splitstrem_max");
        assertThat(metricNames("up{job=\"splitstream-exit\"} == 0")).containsExactly("up");
    }

    /** Metric names of the exposition text: the series names and the names in # TYPE lines. */
    static Set<String> exportedNames(String text) {
        Set<String> names = new LinkedHashSet<>();
        for (String line : text.lines().toList()) {
            if (line.startsWith("# TYPE ")) {
                names.add(line.split(" ")[2]);
            } else if (!line.isBlank() && !line.startsWith("#")) {
                names.add(line.split("[{ ]")[0]);
            }
        }
        return names;
    }

    /** The metric names a PromQL expression selects: identifiers that are not functions, keywords or labels. */
    static Set<String> metricNames(String expr) {
        String s = expr.replaceAll("\"[^\"]*\"", "\"\"") // string literals
                .replaceAll("\\{[^}]*}", " ") // label matchers
                .replaceAll("\\[[^]]*]", " ") // ranges
                .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " "); // label lists
        Set<String> names = new LinkedHashSet<>();
        Matcher m = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*").matcher(s);
        while (m.find()) {
            String word = m.group();
            int next = m.end();
            while (next < s.length() && s.charAt(next) == ' ') {
                next++;
            }
            boolean function = next < s.length() && s.charAt(next) == '(';
            boolean grafanaVariable = m.start() > 0 && s.charAt(m.start() - 1) == '$';
            if (!function && !grafanaVariable && !PROMQL_WORDS.contains(word.toLowerCase())) {
                names.add(word);
            }
        }
        return names;
    }
}
