package dev.splitstream.exit.token;

/** The tokens file is unreadable or wrong; the message names the file and the line or field, never a secret. */
public class TokensFileException extends Exception {
    public TokensFileException(String message) {
        super(message);
    }
}
