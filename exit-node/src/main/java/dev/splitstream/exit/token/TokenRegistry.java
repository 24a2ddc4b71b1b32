package dev.splitstream.exit.token;

import dev.splitstream.exit.config.ConfigException;
import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.protocol.Secret;
import dev.splitstream.protocol.SecretFile;
import dev.splitstream.protocol.TokenStore;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Vertx;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.jboss.logging.Logger;

/**
 * The tokens this node accepts: the single SPLITSTREAM_TOKEN (or the secret in SPLITSTREAM_TOKEN_FILE) and/or the
 * entries of the tokens file. The files are polled (the tokens file's modification time and size, the token file's
 * content, since a Kubernetes Secret volume swaps a symlink) on a Vert.x timer and re-read on a worker thread; a bad new
 * version is logged and the previous tokens stay in force. A new secret counts for new handshakes; sessions already
 * open are never dropped by a reload (their resumes prove the session key, not the token); their next stream is
 * checked against the token's current allow-list.
 */
@ApplicationScoped
public class TokenRegistry implements TokenStore {
    private static final Logger LOG = Logger.getLogger(TokenRegistry.class);

    private final ExitSettings settings;
    private final Vertx vertx;
    private final AtomicReference<Map<String, TokenPolicy>> tokens = new AtomicReference<>(Map.of());
    private final AtomicBoolean loaded = new AtomicBoolean();
    private final AtomicBoolean reloading = new AtomicBoolean();
    private volatile FileStamp stamp;
    /** The secret last read from the token file. */
    private volatile Secret fileSecret;

    private volatile String lastError;
    private long timerId = -1;

    public TokenRegistry(ExitSettings settings, Vertx vertx) {
        this.settings = settings;
        this.vertx = vertx;
    }

    void onStart(@Observes @Priority(10) StartupEvent event) {
        try {
            load();
        } catch (TokensFileException e) {
            throw new ConfigException("splitstream.exit.tokens-file: " + e.getMessage());
        }
        if (settings.tokensFile().isPresent() || settings.tokenFile().isPresent()) {
            timerId = vertx.setPeriodic(settings.tokensReloadInterval().toMillis(), id -> pollFile());
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        if (timerId >= 0) {
            vertx.cancelTimer(timerId);
        }
    }

    /** True once the tokens were loaded. */
    public boolean isLoaded() {
        return loaded.get();
    }

    @Override
    public Optional<Secret> secretFor(String tokenId) {
        return policy(tokenId).map(TokenPolicy::secret);
    }

    /** The current policy of a token, or empty if it is unknown (or was removed by a reload). */
    public Optional<TokenPolicy> policy(String tokenId) {
        return Optional.ofNullable(tokens.get().get(tokenId));
    }

    /** Number of tokens currently accepted. */
    public int size() {
        return tokens.get().size();
    }

    private void pollFile() {
        if (!reloading.compareAndSet(false, true)) {
            return;
        }
        vertx.executeBlocking(
                        () -> {
                            FileStamp now = settings.tokensFile().isPresent()
                                    ? FileStamp.of(settings.tokensFile().get())
                                    : null;
                            boolean secretChanged = settings.tokenFile().isPresent()
                                    && !SecretFile.read(settings.tokenFile().get())
                                            .equals(fileSecret);
                            if (java.util.Objects.equals(now, stamp) && !secretChanged) {
                                return false;
                            }
                            try {
                                load();
                            } finally {
                                // A bad version is reported once, not on every poll.
                                stamp = now;
                            }
                            return true;
                        },
                        false)
                .onComplete(ar -> {
                    reloading.set(false);
                    if (ar.failed()) {
                        String why = ar.cause().getMessage();
                        if (why != null && why.equals(lastError)) {
                            return; // reported once, not on every poll
                        }
                        lastError = why;
                        LOG.errorf(
                                "tokens not reloaded, previous tokens stay in force: %s",
                                ar.cause().getMessage());
                    } else if (ar.result()) {
                        lastError = null;
                        LOG.infof(
                                "tokens reloaded: %d tokens; new handshakes use them, live sessions are kept", size());
                    }
                });
    }

    /** Loads (or reloads) every token source; blocking: call on a worker or at start-up. */
    synchronized void load() throws TokensFileException {
        Map<String, TokenPolicy> next = new LinkedHashMap<>();
        FileStamp newStamp = null;
        if (settings.tokensFile().isPresent()) {
            Path file = settings.tokensFile().get();
            try {
                newStamp = FileStamp.of(file);
            } catch (IOException e) {
                throw new TokensFileException("tokens file " + file + ": cannot read: " + e);
            }
            next.putAll(TokensFile.read(
                    file,
                    settings.allow(),
                    settings.limits().maxStreams(),
                    settings.maxSessionsPerToken(),
                    settings.expose()));
        }
        Secret single = null;
        if (settings.token().isPresent()) {
            single = Secret.ofText(settings.token().get());
        } else if (settings.tokenFile().isPresent()) {
            try {
                single = SecretFile.read(settings.tokenFile().get());
            } catch (IOException e) {
                throw new TokensFileException(e.getMessage());
            }
        }
        if (single != null) {
            if (next.containsKey(settings.tokenId())) {
                throw new TokensFileException(
                        "tokens file " + settings.tokensFile().orElseThrow() + ": id " + settings.tokenId()
                                + " is also splitstream.token-id; use another id");
            }
            next.put(
                    settings.tokenId(),
                    new TokenPolicy(
                            settings.tokenId(),
                            single,
                            settings.allow(),
                            settings.limits().maxStreams(),
                            settings.expose().defaultPolicy(true),
                            settings.maxSessionsPerToken()));
        }
        tokens.set(Map.copyOf(next));
        stamp = newStamp;
        fileSecret = settings.tokenFile().isPresent() ? single : null;
        loaded.set(true);
    }

    /** Modification time and size of a file, to notice changes without reading it. */
    record FileStamp(FileTime modified, long size) {
        static FileStamp of(Path file) throws IOException {
            return new FileStamp(Files.getLastModifiedTime(file), Files.size(file));
        }
    }
}
