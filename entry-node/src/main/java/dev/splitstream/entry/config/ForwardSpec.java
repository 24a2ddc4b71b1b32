package dev.splitstream.entry.config;

import java.util.ArrayList;
import java.util.List;

/** One fixed forward: a local listener whose connections all go to one target behind the exit node. */
public record ForwardSpec(ListenSpec listen, HostPort target) {

    static final String SYNTAX = "[bind:]localport=host:port";

    /** Parses a comma list of {@code [bind:]localport=host:port}; blank entries are skipped. */
    static List<ForwardSpec> parseList(String key, String text) {
        List<ForwardSpec> out = new ArrayList<>();
        for (String item : text.split(",")) {
            if (!item.isBlank()) {
                out.add(parse(key, item.trim()));
            }
        }
        return out;
    }

    static ForwardSpec parse(String key, String item) {
        int eq = item.indexOf('=');
        if (eq < 0 || item.indexOf('=', eq + 1) >= 0) {
            throw new ConfigException(key, "'" + item + "' is not " + SYNTAX);
        }
        try {
            ListenSpec listen = ListenSpec.parse(item.substring(0, eq));
            HostPort target = HostPort.parse(item.substring(eq + 1), 1);
            return new ForwardSpec(listen, target);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(key, "'" + item + "' is not " + SYNTAX + " (" + e.getMessage() + ")");
        }
    }
}
