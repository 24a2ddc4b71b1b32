package dev.splitstream.entry.config;

/** Invalid or missing configuration; the message starts with the property's name. */
public final class ConfigException extends RuntimeException {
    private final String key;

    public ConfigException(String key, String message) {
        super(key + ": " + message);
        this.key = key;
    }

    /** The configuration property at fault. */
    public String key() {
        return key;
    }
}
