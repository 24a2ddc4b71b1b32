package dev.splitstream.e2e.harness;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** What to start: an exit or entry node, its configuration (Quarkus keys) and token. {@link #start()} runs it. */
public final class NodeSpec {
    /** Which jar. */
    public enum Role {
        EXIT("exit-node"),
        ENTRY("entry-node");

        final String module;

        Role(String module) {
            this.module = module;
        }
    }

    final Role role;
    final String name;
    final Map<String, String> config = new LinkedHashMap<>();
    final Map<String, String> env = new LinkedHashMap<>();
    final List<String> forwards = new ArrayList<>();
    final List<String> allow = new ArrayList<>();
    int httpPort;
    int managementPort;
    /** JVM flags replacing the tests' defaults ({@code splitstream.e2e.jvm-flags}); null: those. */
    String jvmFlags;

    private NodeSpec(Role role, String name) {
        this.role = role;
        this.name = name;
        this.httpPort = Ports.free();
        this.managementPort = Ports.free();
        // test traffic stays on loopback
        config.put("quarkus.http.host", "127.0.0.1");
        config.put("quarkus.management.host", "127.0.0.1");
        if (role == Role.ENTRY) {
            // transport=auto remembers per server URL what worked; ports are reused, so each entry gets its own memory
            config.put("splitstream.entry.state-file", stateFile(name).toString());
        }
    }

    private static Path stateFile(String name) {
        try {
            return java.nio.file.Files.createTempDirectory("splitstream-state-").resolve(name + "-transports.json");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static NodeSpec exit() {
        return exit("exit");
    }

    public static NodeSpec exit(String name) {
        return new NodeSpec(Role.EXIT, name);
    }

    public static NodeSpec entry() {
        return entry("entry");
    }

    public static NodeSpec entry(String name) {
        return new NodeSpec(Role.ENTRY, name);
    }

    /** The shared secret, given as users do: the {@code SPLITSTREAM_TOKEN} environment variable. */
    public NodeSpec token(String token) {
        env.put("SPLITSTREAM_TOKEN", token);
        return this;
    }

    /** Any configuration key (passed as a system property). */
    public NodeSpec set(String key, String value) {
        config.put(key, value);
        return this;
    }

    /** An environment variable of the node process. */
    public NodeSpec env(String name, String value) {
        env.put(name, value);
        return this;
    }

    /** The HTTP port (the exit's tunnel endpoints; the entry serves nothing there); ephemeral by default. */
    public NodeSpec httpPort(int port) {
        this.httpPort = port;
        return this;
    }

    /** Exit: adds allow-list entries ({@code host:port}, {@code host:*}, {@code cidr:port}). */
    public NodeSpec allow(String... entries) {
        allow.addAll(List.of(entries));
        return this;
    }

    /** Exit: streams per session. */
    public NodeSpec maxStreams(int value) {
        return set("splitstream.exit.max-streams", Integer.toString(value));
    }

    /** Entry: the exit node's URL. */
    public NodeSpec server(String url) {
        return set("splitstream.entry.server", url);
    }

    /** Entry: a fixed forward from loopback {@code localPort} to {@code host:port} at the exit. */
    public NodeSpec forward(int localPort, String host, int port) {
        forwards.add("127.0.0.1:" + localPort + "=" + host + ":" + port);
        return this;
    }

    /** Entry: the SOCKS5 listener on loopback. */
    public NodeSpec socks(int port) {
        return set("splitstream.entry.socks", "127.0.0.1:" + port);
    }

    /** Entry: the HTTP CONNECT listener on loopback. */
    public NodeSpec httpConnect(int port) {
        return set("splitstream.entry.http-connect", "127.0.0.1:" + port);
    }

    /** Entry: the outbound HTTP proxy. */
    public NodeSpec proxy(String url) {
        return set("splitstream.entry.proxy", url);
    }

    /** Entry: fast reconnects, so tests of cuts and restarts stay short. */
    public NodeSpec reconnect(String min, String max) {
        set("splitstream.entry.reconnect-min", min);
        return set("splitstream.entry.reconnect-max", max);
    }

    public int httpPort() {
        return httpPort;
    }

    /**
     * Runs the node with the JVM flags its checkout ships ({@code scripts/jvm-opts.sh} of the repository root or of
     * {@code splitstream.e2e.nodes}) instead of the tests' roomy defaults: attacks on memory must meet the heap and
     * direct memory a real node has. The {@code -D} flags of {@code splitstream.e2e.jvm-flags} are kept (older nodes
     * need {@code -Dsmallrye.config.mapping.validate-unknown=false}).
     */
    public NodeSpec shippedJvmFlags() {
        Path script = roleCheckout().resolve("scripts/jvm-opts.sh");
        String shipped = Exec.run(
                        java.time.Duration.ofSeconds(30),
                        "bash",
                        "-c",
                        ". \"$1\" && printf %s \"$SPLITSTREAM_JAVA_OPTS\"",
                        "opts",
                        script.toString())
                .assertSuccess()
                .output()
                .trim();
        if (shipped.isEmpty()) {
            throw new AssertionError(script + " sets no SPLITSTREAM_JAVA_OPTS");
        }
        StringBuilder flags = new StringBuilder(shipped);
        for (String flag :
                System.getProperty("splitstream.e2e.jvm-flags", "").trim().split("\\s+")) {
            if (flag.startsWith("-D")) {
                flags.append(' ').append(flag);
            }
        }
        this.jvmFlags = flags.toString();
        return this;
    }

    /**
     * The tests' JVM flags ({@code splitstream.e2e.jvm-flags} or the defaults) without {@code -XX:TieredStopAtLevel=1},
     * so C2 compiles the data path as in a real node: for nodes that move hundreds of MiB, which C1-only code moved
     * about three times slower here (ForwardTransferE2E's 256 MiB each way: 49 s against 16 s, same load), at the
     * price of about 2 s more CPU to start.
     */
    public NodeSpec bulkJvmFlags() {
        this.jvmFlags = Arrays.stream(Node.testJvmFlags().trim().split("\\s+"))
                .filter(flag -> !flag.isEmpty() && !flag.startsWith("-XX:TieredStopAtLevel="))
                .collect(Collectors.joining(" "));
        return this;
    }

    /** The management port (health, metrics); ephemeral by default. */
    public NodeSpec managementPort(int port) {
        this.managementPort = port;
        return this;
    }

    public int managementPort() {
        return managementPort;
    }

    /**
     * The built jar of this role, under the repository root or, with the system property {@code splitstream.e2e.nodes},
     * under another checkout (to run these tests against the nodes of an older commit).
     */
    public Path jar() {
        return roleCheckout()
                .resolve(role.module)
                .resolve("target/quarkus-app/quarkus-run.jar")
                .toAbsolutePath();
    }

    /**
     * The checkout whose node of this role runs: {@code splitstream.e2e.exit-nodes} or {@code splitstream.e2e.entry-nodes}
     * when set (a mixed pair: an older entry against this checkout's exit, or the reverse), else {@link #checkout()}.
     */
    public Path roleCheckout() {
        String own =
                System.getProperty(role == Role.EXIT ? "splitstream.e2e.exit-nodes" : "splitstream.e2e.entry-nodes");
        return own == null || own.isBlank() ? checkout() : Path.of(own);
    }

    /** The checkout whose nodes run: the repository root, or {@code splitstream.e2e.nodes}. */
    public static Path checkout() {
        String nodes = System.getProperty("splitstream.e2e.nodes");
        return nodes == null || nodes.isBlank() ? Node.repoRoot() : Path.of(nodes);
    }

    /** Starts the process; it is not ready yet (see {@link Node#awaitReady()}). */
    public Node start() {
        Map<String, String> all = new LinkedHashMap<>(config);
        all.put("quarkus.http.port", Integer.toString(httpPort));
        all.put("quarkus.management.port", Integer.toString(managementPort));
        if (!allow.isEmpty()) {
            all.put("splitstream.exit.allow", String.join(",", allow));
        }
        if (!forwards.isEmpty()) {
            all.put("splitstream.entry.forwards", String.join(",", forwards));
        }
        Node node = new Node(this, all);
        node.start();
        return node;
    }
}
