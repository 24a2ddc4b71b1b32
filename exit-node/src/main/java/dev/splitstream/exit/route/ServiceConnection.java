package dev.splitstream.exit.route;

import dev.splitstream.bridge.StreamEndpoint;
import dev.splitstream.protocol.ResetCode;
import dev.splitstream.protocol.Stream;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vertx.core.Vertx;
import io.vertx.core.impl.ContextInternal;
import java.nio.ByteBuffer;
import org.jboss.logging.Logger;

/**
 * One stream to an agent's HTTP service, which the agent bridges to one TCP connection to that service: a persistent
 * HTTP/1.1 connection that serves one {@link RouteExchange} at a time and waits in the {@link RoutePool} in between.
 *
 * <p>Confined to the stream's session thread: the stream's events arrive there and go to the exchange being served
 * ({@code current}); an exchange's operations on the stream hop there and are dropped unless that exchange is still the
 * one served, so a late reset or credit of a finished request can never touch the next client's request. An idle
 * connection (no exchange) that hears anything from the service (bytes, an end, a reset) is closed and leaves the pool:
 * a service that talks out of turn cannot be trusted with the next request.
 *
 * <p>The HTTP codec ({@link #head}, {@link #decoder}) belongs to the connection, not to a request: it is created
 * once per stream and used by the exchange being served, on that exchange's HTTP thread. Exchanges hand the connection
 * on through the pool's lock, so one thread at a time uses it. A request taken from the pool sends its head with
 * {@link #bind} (one hop to the session's thread instead of three), and the release is queued on the session's
 * thread before the connection goes back to the pool, so the next {@code bind} always runs after it.
 */
final class ServiceConnection implements StreamEndpoint, dev.splitstream.exit.expose.ExposeService.Follower {
    private static final Logger LOG = Logger.getLogger(ServiceConnection.class);

    private final RoutePool pool;
    private final String agent;
    final String key;

    private volatile ContextInternal context;
    private volatile RouteExchange current;
    private Stream stream;
    /** Request head writer and response decoder of this connection; used on the HTTP thread of the exchange served. */
    final RequestBytes head = new RequestBytes();

    final RouteExchange.ResponseDecoder decoderHandler = new RouteExchange.ResponseDecoder();
    final EmbeddedChannel decoder = new EmbeddedChannel(decoderHandler);
    /** Bytes of the service's answer handed to the current exchange. */
    private long delivered;
    /** The release of the previous exchange, queued on the session's thread and maybe not run yet. */
    private volatile ReleaseCheck pendingRelease;

    /** The service ended or reset this stream: no further request may use it. Read by the pool on any thread. */
    private volatile boolean broken;
    /** Requests served before the current one. */
    private int served;

    /** Set by the pool under its lock while the connection is idle. */
    long idleSinceNanos;

    ServiceConnection(RoutePool pool, String agent, String key, RouteExchange first) {
        this.pool = pool;
        this.agent = agent;
        this.key = key;
        this.current = first;
    }

    /** The stream cannot serve another request. Any thread. */
    boolean isBroken() {
        return broken;
    }

    /** Requests this connection served before the current one (0 on a new stream). */
    int served() {
        return served;
    }

    // ------------------------------------------------------------------ stream events (session thread)

    @Override
    public void onOpen(Stream s) {
        this.context = (ContextInternal) Vertx.currentContext();
        this.stream = s;
        RouteExchange ex = current;
        if (ex != null) {
            ex.streamOpened(this);
        }
    }

    @Override
    public void onOpenFailed(ResetCode code, String message) {
        broken = true;
        RouteExchange ex = current;
        if (ex != null) {
            ex.openFailed(this, code, message);
        }
    }

    /**
     * With replicas: this new stream was waiting for an agent that came back on another replica. It never opened, so
     * its exchange has sent nothing to the agent and goes there instead ({@link RouteExchange#follow}).
     */
    @Override
    public void follow(String owner) {
        broken = true;
        RouteExchange ex = current;
        if (ex != null) {
            ex.follow(this, owner);
        }
    }

    @Override
    public boolean isAbandoned() {
        RouteExchange ex = current;
        return ex == null || ex.isAbandoned();
    }

    @Override
    public void onAccepted(Stream s) {
        RouteExchange ex = current;
        if (ex != null) {
            ex.streamAccepted(this);
        }
    }

    @Override
    public void onData(Stream s, ByteBuffer data) {
        settle();
        RouteExchange ex = current;
        if (ex == null) {
            broken = true;
            close("the service sent " + data.remaining() + " bytes while the connection was idle");
            return;
        }
        delivered += data.remaining();
        ex.fromStream(this, data);
    }

    @Override
    public void onFin(Stream s) {
        settle();
        broken = true;
        RouteExchange ex = current;
        if (ex == null) {
            close("the service closed the idle connection");
            return;
        }
        ex.streamFinished(this);
    }

    @Override
    public void onReset(Stream s, ResetCode code, String message) {
        settle();
        broken = true;
        RouteExchange ex = current;
        if (ex == null) {
            pool.remove(this);
            return;
        }
        ex.streamReset(this, code, message);
    }

    @Override
    public void onWritable(Stream s) {
        settle();
        RouteExchange ex = current;
        if (ex != null) {
            ex.streamWritable(this);
        }
    }

    // ------------------------------------------------------------------ operations of an exchange (any thread)

    /**
     * Serves {@code ex} on this idle connection taken from the pool, writing {@code head} (the request head, encoded on
     * the exchange's thread; null when there is nothing to send) first. When the stream died meanwhile, {@code ex}
     * hears {@link RouteExchange#staleConnection} (nothing was sent on it) and opens another.
     */
    void bind(RouteExchange ex, ByteBuffer head) {
        run(() -> {
            settle();
            // A session without a leg either way (the agent reconnects; a split session's upstream leg is away) would
            // hold the request past the queue's bounds: the request takes the ordinary way, which waits in the
            // agent's queue.
            if (broken
                    || stream == null
                    || stream.isClosed()
                    || current != null
                    || !pool.carriesStreams(agent, stream)) {
                if (current == null) {
                    closeNow("dead or detached when taken from the pool");
                } else {
                    broken = true; // taken while still serving: it must leave when that exchange ends, never linger
                }
                ex.staleConnection(this);
                return;
            }
            current = ex;
            delivered = 0;
            ex.streamOpened(this);
            if (head != null && current == ex) {
                // A full stream (false) pauses the body when it starts: the exchange waits for onWritable then.
                stream.write(head);
            }
            if (!ex.startedWithHead()) {
                ex.streamAccepted(this);
            }
        });
    }

    /**
     * Writes request bytes; {@code paused} runs (on the stream's thread) when the stream wants the writer to wait, and
     * {@code handled} once the bytes were written to the stream or dropped (the exchange counts what is on its way).
     */
    void write(RouteExchange ex, ByteBuffer data, Runnable paused, Runnable handled) {
        run(() -> {
            try {
                if (current != ex || stream == null || stream.isClosed()) {
                    return;
                }
                if (!stream.write(data)) {
                    paused.run();
                }
            } finally {
                handled.run();
            }
        });
    }

    /** Returns receive credit for {@code n} bytes of the answer that went on to the client. */
    void consumed(RouteExchange ex, long n) {
        if (n <= 0) {
            return;
        }
        run(() -> {
            if (current == ex && stream != null && !stream.isClosed()) {
                stream.consumed((int) Math.min(Integer.MAX_VALUE, n));
            }
        });
    }

    /** The exchange is over and the connection cannot serve another: half-close it (the service sees the end). */
    void finish(RouteExchange ex) {
        run(() -> {
            if (current != ex) {
                return;
            }
            current = null;
            broken = true;
            if (stream != null && !stream.isClosed()) {
                stream.finish();
            }
        });
    }

    /**
     * The client of an upgraded exchange half-closed its connection: a FIN goes to the service after the bytes written
     * before it, and the service's answer keeps coming to the same exchange.
     */
    void finishWriting(RouteExchange ex) {
        run(() -> {
            if (current == ex && stream != null && !stream.isClosed()) {
                stream.finish();
            }
        });
    }

    /** The exchange gave up: reset the stream (the agent closes its connection to the service). */
    void reset(RouteExchange ex, ResetCode code, String message) {
        run(() -> {
            if (current != ex) {
                return;
            }
            current = null;
            broken = true;
            if (stream != null && !stream.isClosed()) {
                stream.reset(code, message);
            }
        });
    }

    /**
     * The exchange ended cleanly with both sides allowing keep-alive, after handling {@code seen} bytes of the answer,
     * with {@code credit} bytes of it not yet returned (the check returns them first): back to the pool, unless
     * anything says the stream is not clean (bytes in flight that the exchange did not see, request bytes still
     * queued, an end or reset from the service). Called on the exchange's thread: the connection joins the pool at
     * once and the check runs on the session's thread before that thread does anything else with it ({@link
     * #settle}): the next {@code bind} runs it first and finds the connection broken when it failed. A connection the
     * pool does not take has its check queued there at once.
     */
    void release(RouteExchange ex, long seen, long credit) {
        ReleaseCheck check = new ReleaseCheck(ex, seen, credit);
        pendingRelease = check;
        if (context == null || broken) {
            run(check);
            return;
        }
        if (!pool.offer(this)) {
            run(check);
            close("the route pool is full");
        }
        // else the check waits for the session's thread to touch this connection next (the next bind, a stream event,
        // a close): a hop per request fewer. Its credit (the answer's last bytes) waits with it; the stream's window
        // needs it only for the next answer, which comes after that bind.
    }

    /** Runs the previous exchange's release check if it has not run yet. The session's thread. */
    private void settle() {
        ReleaseCheck pending = pendingRelease;
        if (pending != null) {
            pending.run();
        }
    }

    /**
     * The clean-up after an exchange, on the session's thread. Idempotent: it acts only while {@code ex} is served. A
     * {@link #bind} that runs on the session's thread before the queued check (the next request came in on that very
     * event loop and ran inline) runs it first, so it never finds the previous exchange still current.
     */
    private final class ReleaseCheck implements Runnable {
        private final RouteExchange ex;
        private final long seen;
        private final long credit;

        ReleaseCheck(RouteExchange ex, long seen, long credit) {
            this.ex = ex;
            this.seen = seen;
            this.credit = credit;
        }

        @Override
        public void run() {
            if (pendingRelease == this) {
                pendingRelease = null;
            }
            if (current != ex) {
                return;
            }
            if (credit > 0 && stream != null && !stream.isClosed()) {
                stream.consumed((int) Math.min(Integer.MAX_VALUE, credit));
            }
            current = null;
            served++;
            if (broken || stream == null || stream.isClosed()) {
                closeNow("the service ended the connection");
            } else if (delivered != seen || stream.queuedBytes() > 0) {
                closeNow("the connection is not clean after a response");
            }
        }
    }

    /** Frees the codec's buffers: the connection serves no further request. The exchange's thread. */
    void releaseCodec() {
        decoder.finishAndReleaseAll();
    }

    /** Closes an idle connection (idle timeout, eviction). Any thread. */
    void close(String why) {
        run(() -> {
            settle();
            if (current == null) {
                closeNow(why);
            }
        });
    }

    private void closeNow(String why) {
        broken = true; // before leaving the pool: an offer racing with this sees it under the pool's lock
        pool.remove(this);
        if (stream != null && !stream.isClosed()) {
            LOG.tracef("route connection %s closed: %s", key, why);
            stream.reset(ResetCode.CANCELLED, "route connection closed: " + why);
        }
    }

    private void run(Runnable r) {
        ContextInternal ctx = context;
        if (ctx == null) {
            // Not open yet (the request waits for its agent): nothing was sent, so there is nothing to end here; the
            // exchange's abandonment is seen when the stream opens.
            return;
        }
        if (ctx.nettyEventLoop().inEventLoop()) {
            guarded(r);
        } else {
            ctx.runOnContext(v -> guarded(r));
        }
    }

    /** A bug here must end this connection, never the agent's session whose thread runs it. */
    private void guarded(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.warnf(e, "route connection %s failed", key);
            RouteExchange ex = current;
            current = null;
            broken = true;
            pool.remove(this);
            if (stream != null && !stream.isClosed()) {
                stream.reset(ResetCode.INTERNAL, "route connection failed on the exit");
            }
            if (ex != null) {
                ex.streamReset(this, ResetCode.INTERNAL, "route connection failed on the exit");
            }
        }
    }
}
