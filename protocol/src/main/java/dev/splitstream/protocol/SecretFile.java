package dev.splitstream.protocol;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads a token secret from a file (SPLITSTREAM_TOKEN_FILE): UTF-8 text, line breaks at the end ignored, at most
 * {@link #MAX_BYTES} bytes. Nodes poll the file and call {@link #read} again to notice a rotation: a Kubernetes Secret
 * volume swaps a symlink, so the content, not the path's inode, is what counts. Errors name the file, never its content.
 */
public final class SecretFile {
    /** Largest secret file accepted. */
    public static final int MAX_BYTES = 4096;

    /** Shortest secret accepted, in characters. */
    public static final int MIN_CHARS = 16;

    private SecretFile() {}

    /**
     * The secret in {@code file}. Blocking: call on a worker thread or at start-up.
     *
     * @throws IOException unreadable, larger than {@link #MAX_BYTES}, not UTF-8, or shorter than {@link #MIN_CHARS}
     */
    public static Secret read(Path file) throws IOException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        }
        if (bytes.length > MAX_BYTES) {
            throw new IOException("token file " + file + " is larger than " + MAX_BYTES + " bytes");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IOException("token file " + file + " is not UTF-8 text");
        }
        int end = text.length();
        while (end > 0 && (text.charAt(end - 1) == '\n' || text.charAt(end - 1) == '\r')) {
            end--;
        }
        text = text.substring(0, end);
        if (text.length() < MIN_CHARS) {
            throw new IOException("token file " + file + " must hold a secret of at least " + MIN_CHARS
                    + " characters (it holds " + text.length() + ")");
        }
        return Secret.ofText(text);
    }
}
