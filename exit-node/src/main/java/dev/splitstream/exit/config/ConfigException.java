package dev.splitstream.exit.config;

/** A configuration value is missing or wrong; the message names the property (and its environment variable). */
public class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
