package dev.splitstream.exit.token;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.splitstream.bridge.AllowList;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.protocol.Secret;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Parses the tokens file (JSON, or YAML; a file whose first non-blank character is '{' is read as JSON):
 *
 * <pre>
 * tokens:
 *   - id: alice
 *     secret: "a long random string"
 *     allow: ["db.internal:5432", "10.0.0.0/8:*"]
 *     maxStreams: 64
 *     maxSessions: 4
 *     expose:                  # reverse tunnels; without this block the token may not expose anything
 *       allowed: true          # default true when the block is present
 *       ports: "10000-10099"   # public ports its services may get, within splitstream.exit.public-ports
 *       maxPorts: 10           # default: the whole range
 *       maxAgents: 4           # default 16
 *       maxQueued: 20          # connections waiting for an agent that reconnects; default splitstream.exit.max-queued
 *       routePassword: "..."   # HTTP clients of its routes must send Basic credentials with this password
 * </pre>
 *
 * A token without {@code allow} gets the node's default list (splitstream.exit.allow); without {@code maxStreams} the
 * node's splitstream.exit.max-streams; without {@code maxSessions} the node's splitstream.exit.max-sessions-per-token. Errors name the file and the line or the field; secrets are never echoed.
 */
public final class TokensFile {
    private static final ObjectMapper JSON = configure(new ObjectMapper());
    private static final ObjectMapper YAML = configure(new ObjectMapper(new YAMLFactory()));

    private TokensFile() {}

    private static ObjectMapper configure(ObjectMapper m) {
        return m.configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true)
                .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true);
    }

    /** File layout. */
    record FileModel(@JsonProperty(value = "tokens", required = true) List<Entry> tokens) {}

    /** One token entry. */
    record Entry(
            @JsonProperty("id") String id,
            @JsonProperty("secret") String secret,
            @JsonProperty("allow") List<String> allow,
            @JsonProperty("maxStreams") Integer maxStreams,
            @JsonProperty("maxSessions") Integer maxSessions,
            @JsonProperty("expose") ExposeEntry expose) {}

    /** A token's expose block. */
    record ExposeEntry(
            @JsonProperty("allowed") Boolean allowed,
            @JsonProperty("ports") String ports,
            @JsonProperty("maxPorts") Integer maxPorts,
            @JsonProperty("maxAgents") Integer maxAgents,
            @JsonProperty("maxQueued") Integer maxQueued,
            @JsonProperty("routePassword") String routePassword) {}

    /** Reads and validates {@code file}. */
    public static Map<String, TokenPolicy> read(
            Path file,
            AllowList defaultAllow,
            int defaultMaxStreams,
            int defaultMaxSessions,
            ExitSettings.Expose expose)
            throws TokensFileException {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new TokensFileException("tokens file " + file + ": cannot read: " + e);
        }
        return parse(file.toString(), text, defaultAllow, defaultMaxStreams, defaultMaxSessions, expose);
    }

    /** Parses tokens-file text; {@code name} is used in error messages. */
    public static Map<String, TokenPolicy> parse(
            String name,
            String text,
            AllowList defaultAllow,
            int defaultMaxStreams,
            int defaultMaxSessions,
            ExitSettings.Expose expose)
            throws TokensFileException {
        boolean json = text.stripLeading().startsWith("{");
        FileModel model;
        try {
            model = (json ? JSON : YAML).readValue(text, FileModel.class);
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            String where = loc == null ? "" : " line " + loc.getLineNr() + " column " + loc.getColumnNr();
            String what = e.getOriginalMessage();
            if (e instanceof com.fasterxml.jackson.databind.JsonMappingException me
                    && !me.getPath().isEmpty()) {
                what = "field " + pathOf(me) + ": " + what;
            }
            throw new TokensFileException("tokens file " + name + ":" + where + ": " + redact(what));
        }
        if (model == null || model.tokens() == null) {
            throw new TokensFileException("tokens file " + name + ": missing 'tokens' list");
        }
        Map<String, TokenPolicy> out = new LinkedHashMap<>();
        for (int i = 0; i < model.tokens().size(); i++) {
            Entry e = model.tokens().get(i);
            String where = "tokens file " + name + ": tokens[" + i + "]";
            if (e == null) {
                throw new TokensFileException(where + ": empty entry");
            }
            if (e.id() == null || e.id().isBlank()) {
                throw new TokensFileException(where + ": field 'id' is required");
            }
            where += " (id " + e.id() + ")";
            if (e.id().length() > 128) {
                throw new TokensFileException(where + ": field 'id' is longer than 128 characters");
            }
            if (e.secret() == null || e.secret().isEmpty()) {
                throw new TokensFileException(where + ": field 'secret' is required");
            }
            if (e.secret().length() < 16) {
                throw new TokensFileException(where + ": field 'secret' must be at least 16 characters");
            }
            if (out.containsKey(e.id())) {
                throw new TokensFileException(where + ": duplicate id");
            }
            AllowList allow;
            if (e.allow() == null) {
                allow = defaultAllow;
            } else {
                try {
                    allow = AllowList.parse(e.allow());
                } catch (IllegalArgumentException ex) {
                    throw new TokensFileException(where + ": field 'allow': " + ex.getMessage());
                }
            }
            int maxStreams = e.maxStreams() == null ? defaultMaxStreams : e.maxStreams();
            if (maxStreams < 1) {
                throw new TokensFileException(where + ": field 'maxStreams' must be positive");
            }
            int maxSessions = e.maxSessions() == null ? defaultMaxSessions : e.maxSessions();
            if (maxSessions < 1) {
                throw new TokensFileException(where + ": field 'maxSessions' must be positive");
            }
            ExposePolicy exposePolicy = exposePolicy(where, e.expose(), expose);
            out.put(
                    e.id(),
                    new TokenPolicy(e.id(), Secret.ofText(e.secret()), allow, maxStreams, exposePolicy, maxSessions));
        }
        return out;
    }

    private static ExposePolicy exposePolicy(String where, ExposeEntry e, ExitSettings.Expose node)
            throws TokensFileException {
        if (e == null) {
            return ExposePolicy.DENIED;
        }
        ExposePolicy base = node.defaultPolicy(e.allowed() == null || e.allowed());
        int low = base.lowPort();
        int high = base.highPort();
        if (e.ports() != null) {
            try {
                ExitSettings.PortRange r = ExitSettings.PortRange.parse(e.ports());
                low = r.low();
                high = r.high();
            } catch (IllegalArgumentException ex) {
                throw new TokensFileException(where + ": field 'expose.ports': " + ex.getMessage());
            }
        }
        int maxPorts = e.maxPorts() == null ? Math.max(0, high - low + 1) : e.maxPorts();
        int maxAgents = e.maxAgents() == null ? base.maxAgents() : e.maxAgents();
        int maxQueued = e.maxQueued() == null ? base.maxQueued() : e.maxQueued();
        if (maxPorts < 0 || maxAgents < 0 || maxQueued < 0) {
            throw new TokensFileException(
                    where + ": fields 'expose.maxPorts', 'maxAgents', 'maxQueued' must not be negative");
        }
        Optional<RoutePassword> password = Optional.empty();
        if (e.routePassword() != null) {
            if (e.routePassword().length() < 8 || e.routePassword().length() > 1024) {
                throw new TokensFileException(where + ": field 'expose.routePassword' must be 8 to 1024 characters");
            }
            password = Optional.of(RoutePassword.of(e.routePassword()));
        }
        return new ExposePolicy(base.allowed(), low, high, maxPorts, maxAgents, maxQueued, password);
    }

    private static String pathOf(com.fasterxml.jackson.databind.JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (var ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                sb.append('[').append(ref.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    // Jackson quotes offending values; a mistyped secret must not end up in a log line.
    private static String redact(String message) {
        if (message == null) {
            return "malformed";
        }
        int nl = message.indexOf('\n');
        String first = nl >= 0 ? message.substring(0, nl) : message;
        return first.replaceAll("\"[^\"]*\"", "\"…\"").replaceAll("'[^']*'", "'…'");
    }
}
