package dev.splitstream.exit.transport.http;

import dev.splitstream.exit.config.ExitSettings;
import dev.splitstream.exit.metrics.ExitMetrics;
import dev.splitstream.exit.session.ExitSession;
import dev.splitstream.exit.session.Leg;
import dev.splitstream.exit.transport.LegHandshake;
import dev.splitstream.protocol.CloseCode;
import dev.splitstream.protocol.Frame;
import dev.splitstream.protocol.FrameCodec;
import dev.splitstream.protocol.FrameSink;
import dev.splitstream.protocol.HandshakeResult;
import dev.splitstream.protocol.ProtocolException;
import dev.splitstream.protocol.StaleFrameException;
import io.netty.buffer.Unpooled;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jboss.logging.Logger;

/**
 * One leg of the plain-HTTP transport, named by a random leg id (a bearer credential, only its first 8 hex digits are
 * ever logged). Its upstream side is a series of POSTs, one at a time; its downstream side a series of GETs, one at a
 * time, each of which the session attaches to with the entry's {@code last} received sequence number, so frames lost
 * with a cut response are resent on the next one.
 *
 * <p>Threading: requests arrive on any event loop; everything touching the session or the current downstream response
 * runs on the session's context. Frames are dropped (never queued beyond a bound) once a response cannot take them;
 * the session is then detached and keeps them in its resend buffer until the next GET.
 */
final class HttpLeg implements Leg {
    private static final Logger LOG = Logger.getLogger(HttpLeg.class);

    private final String id;
    private final HttpTransport transport;
    private final FrameCodec codec;
    private final HandshakeResult established;
    private final String sessionHex;
    private final ExitSettings.Http http;
    private final ExitMetrics metrics;
    private final Vertx vertx;
    private final FrameSink sink = new FrameSink() {
        @Override
        public void send(Frame frame) {
            onFrame(frame);
        }

        @Override
        public long deflatedPayloadBytes() {
            return codec.deflatedPayloadBytes();
        }
    };

    /** The PROOF request, answered with the WELCOME (or a CLOSE); null once answered. */
    private volatile HttpServerResponse handshakeReply;

    private volatile ExitSession session;
    private volatile String remoteAddress;
    private volatile boolean closed;
    private final AtomicInteger active = new AtomicInteger();
    private volatile long lastActivityNanos = System.nanoTime();
    /** Stale sealed frames skipped in upstream batches (late copies of retried POSTs). */
    private volatile long staleSkipped;

    // On the session's context:
    private Down current;
    /** Highest {@code last} a GET presented: a late, older GET must not move the session's resend point back. */
    private long highestLast;
    /** Highest sequence number an ACK handed to this leg's responses acknowledged. */
    private long highestAckOffered;
    /** Number of the next numbered upstream batch to deliver. */
    private long nextBatch = 1;
    /** Numbered batches that arrived before their predecessor: fewer than {@code upstream-in-flight}. */
    private final TreeMap<Long, Held> held = new TreeMap<>();
    /** {@code held.size()}, readable from any thread. */
    private volatile int heldCount;

    HttpLeg(
            String id,
            HttpTransport transport,
            FrameCodec codec,
            HandshakeResult established,
            HttpServerResponse handshakeReply) {
        this.id = id;
        this.transport = transport;
        this.codec = codec;
        this.established = established;
        this.sessionHex = HexFormat.of().formatHex(established.sessionId());
        this.http = transport.http();
        this.metrics = transport.deps().metrics();
        this.vertx = transport.deps().vertx();
        this.handshakeReply = handshakeReply;
    }

    String id() {
        return id;
    }

    private String shortId() {
        return id.substring(0, 8);
    }

    @Override
    public FrameSink sink() {
        return sink;
    }

    @Override
    public String transportName() {
        return "http";
    }

    @Override
    public String remoteAddress() {
        return remoteAddress;
    }

    /** Where the handshake came from (set before the leg is admitted). */
    void remoteAddress(String address) {
        this.remoteAddress = address;
    }

    // ---------------------------------------------------------------- handshake

    @Override
    public void welcome(Frame.Welcome welcome) {
        HttpServerResponse reply = handshakeReply;
        handshakeReply = null;
        if (reply == null) {
            return;
        }
        session = transport.sessionOf(established);
        transport.register(this);
        LOG.debugf("session %s: HTTP leg %s… %s", sessionHex, shortId(), established.intent());
        reply.putHeader(HttpTransport.LEG_HEADER, id).putHeader(HttpTransport.SESSION_HEADER, sessionHex);
        if (http.upstreamInFlight() > 1) {
            reply.putHeader(HttpTransport.UP_WINDOW_HEADER, Integer.toString(http.upstreamInFlight()));
        }
        HttpTransport.reply(reply, 200, codec, welcome);
    }

    /** The handshake was refused after the leg was made: it never becomes usable. */
    void abandon() {
        handshakeReply = null;
        closed = true;
    }

    // ---------------------------------------------------------------- requests

    /** A request of this leg began; the leg counts as active until its response ended or its connection closed. */
    void requestStarted(HttpServerResponse response) {
        requestStarted(response, null);
    }

    private void requestStarted(HttpServerResponse response, Runnable onClose) {
        active.incrementAndGet();
        lastActivityNanos = System.nanoTime();
        AtomicBoolean done = new AtomicBoolean();
        Runnable finished = () -> {
            if (done.compareAndSet(false, true)) {
                active.decrementAndGet();
                lastActivityNanos = System.nanoTime();
            }
        };
        response.endHandler(v -> finished.run());
        response.closeHandler(v -> {
            finished.run();
            if (onClose != null) {
                onClose.run();
            }
        });
    }

    /** Nanoseconds without a request in progress (0 while one is). */
    long idleFor(long now) {
        return active.get() > 0 ? 0 : now - lastActivityNanos;
    }

    /**
     * POST .../up: decodes the frames back to back and hands them to the session, then reports lastReceivedSeq. The
     * entry sends one POST at a time; overlapping ones (a retry while a cut one is still processed) are not refused:
     * they reach the session's context in arrival order, and resent frames are dropped by sequence number.
     */
    void upstream(HttpServerResponse response, Buffer body) {
        ExitSession s = session;
        if (s == null || closed) {
            HttpTransport.text(response, 404, "unknown or expired leg: handshake again (RESUME or JOIN)");
            return;
        }
        List<Frame> frames = decode(s, response, body);
        if (frames == null) {
            return;
        }
        Context requestContext = Vertx.currentContext();
        s.execute(() -> deliver(s, frames, response, requestContext));
    }

    /**
     * POST .../up with a batch number (or a reset): on the session's context the batches are decoded and delivered in
     * number order, so several may be in flight on different connections. A batch that arrives before its predecessor
     * waits (at most {@code upstream-in-flight} minus one per leg, each at most {@link #HOLD_MILLIS}); one whose number
     * has passed, or that a reset superseded, is answered 409 without being opened.
     */
    void upstreamNumbered(HttpServerResponse response, Buffer body, long batch, long reset) {
        ExitSession s = session;
        if (s == null || closed) {
            HttpTransport.text(response, 404, "unknown or expired leg: handshake again (RESUME or JOIN)");
            return;
        }
        Held b = new Held(response, body, batch, Vertx.currentContext());
        s.execute(() -> ordered(s, b, reset));
    }

    /** A numbered upstream POST, on the session's context until it is delivered or answered. */
    private static final class Held {
        final HttpServerResponse response;
        final long batch;
        final Context requestContext;
        Buffer body;
        /** The timer that answers it if its predecessor does not come, while it is held. */
        long timer = -1;

        Held(HttpServerResponse response, Buffer body, long batch, Context requestContext) {
            this.response = response;
            this.body = body;
            this.batch = batch;
            this.requestContext = requestContext;
        }
    }

    /** How long a numbered batch waits for its predecessor before it is answered 409 (the entry then recovers). */
    static final long HOLD_MILLIS = 10_000;

    private void ordered(ExitSession s, Held b, long reset) {
        if (reset > 0) {
            dropHeld(409, "batch numbering reset to " + reset);
            nextBatch = reset;
            if (b.body.length() > 0) {
                answer(b, 400, "a reset POST carries no frames");
                return;
            }
            deliver(s, List.of(), b.response, b.requestContext);
            return;
        }
        long window = http.upstreamInFlight();
        if (b.batch < nextBatch || held.containsKey(b.batch)) {
            answer(b, 409, "batch " + b.batch + " already passed (next is " + nextBatch + ")");
            return;
        }
        if (b.batch >= nextBatch + window) {
            answer(b, 400, "batch " + b.batch + " is more than " + window + " ahead of " + nextBatch);
            return;
        }
        if (b.batch > nextBatch) {
            held.put(b.batch, b);
            heldCount = held.size();
            b.timer = vertx.setTimer(HOLD_MILLIS, t -> {
                b.timer = -1;
                if (held.remove(b.batch, b)) {
                    heldCount = held.size();
                    answer(b, 409, "batch " + nextBatch + " did not arrive within " + HOLD_MILLIS + " ms");
                }
            });
            return;
        }
        Held next = b;
        while (next != null) {
            nextBatch++;
            cancelHoldTimer(next);
            Buffer body = next.body;
            next.body = null;
            List<Frame> frames = decode(s, next.response, body);
            if (frames != null) {
                deliver(s, frames, next.response, next.requestContext);
            }
            next = held.remove(nextBatch);
        }
        heldCount = held.size();
    }

    /** Answers every held batch; on the session's context. */
    private void dropHeld(int status, String message) {
        for (Held h : held.values()) {
            cancelHoldTimer(h);
            h.body = null;
            answer(h, status, message);
        }
        held.clear();
        heldCount = 0;
    }

    int heldCount() {
        return heldCount;
    }

    private void cancelHoldTimer(Held h) {
        if (h.timer >= 0) {
            vertx.cancelTimer(h.timer);
            h.timer = -1;
        }
    }

    private static void answer(Held b, int status, String message) {
        b.requestContext.runOnContext(v -> HttpTransport.text(b.response, status, message));
    }

    /** The frames of an upstream body, or null after answering 400 (a malformed body is a protocol error). */
    private List<Frame> decode(ExitSession s, HttpServerResponse response, Buffer body) {
        List<Frame> frames = new ArrayList<>();
        ByteBuffer in = HttpTransport.nio(body);
        try {
            while (in.hasRemaining()) {
                Frame f;
                try {
                    f = codec.decodeNext(in);
                } catch (StaleFrameException stale) {
                    // A late copy of a batch the entry already sent again (it retries a POST it thinks was lost):
                    // authentic or not, it was not opened and changes nothing; the session drops resent frames anyway.
                    staleSkipped++;
                    LOG.debugf(
                            "session %s: HTTP leg %s… skipped a stale frame: %s",
                            sessionHex, shortId(), stale.getMessage());
                    continue;
                }
                if (f == null) {
                    break;
                }
                frames.add(f);
            }
            if (in.hasRemaining()) {
                throw new ProtocolException(
                        CloseCode.PROTOCOL_ERROR, "body ends inside a frame (" + in.remaining() + " bytes left)");
            }
        } catch (ProtocolException e) {
            s.protocolError(this, e);
            HttpTransport.text(response, 400, e.getMessage());
            return null;
        }
        return frames;
    }

    /** On the session's context: hands the frames to the session, then answers with lastReceivedSeq. */
    private void deliver(ExitSession s, List<Frame> frames, HttpServerResponse response, Context requestContext) {
        int status;
        String message = null;
        if (!frames.isEmpty() && !s.isInbound(this)) {
            status = s.isClosed() ? 404 : 409;
            message = s.isClosed() ? "session " + sessionHex + " ended" : "this leg carries no upstream frames";
            if (status == 409 && s.isOutbound(this)) {
                // Frames on a downstream-only leg break the split-path contract: the leg is closed.
                LegHandshake.REFUSALS.log(
                        "downstream_only",
                        "session %s: frames on downstream-only HTTP leg %s…, leg closed",
                        sessionHex,
                        shortId());
                closeTransport(CloseCode.PROTOCOL_ERROR, message);
            }
        } else if (!frames.isEmpty() && !s.receiveAll(this, frames)) {
            status = 404;
            message = "session " + sessionHex + " ended";
        } else {
            status = s.isClosed() ? 404 : 200;
            message = s.isClosed() ? "session " + sessionHex + " ended" : null;
        }
        long last = s.lastReceivedSeq();
        int finalStatus = status;
        String finalMessage = message;
        requestContext.runOnContext(v -> {
            response.putHeader(HttpTransport.SESSION_HEADER, sessionHex);
            if (finalStatus == 200) {
                response.putHeader(HttpTransport.LAST_RECEIVED_HEADER, Long.toString(last));
                if (!response.ended() && !response.closed()) {
                    response.setStatusCode(200).end();
                }
            } else {
                HttpTransport.text(response, finalStatus, finalMessage);
            }
        });
    }

    /** GET .../down: the session attaches to this response, resending after {@code last}. */
    void downstream(HttpServerResponse response, long last, boolean poll) {
        ExitSession s = session;
        if (s == null || closed) {
            HttpTransport.text(response, 404, "unknown or expired leg: handshake again (RESUME or JOIN)");
            return;
        }
        Down d = new Down(response, poll);
        requestStarted(response, () -> s.execute(d::connectionClosed));
        s.execute(() -> {
            if (closed || s.isClosed()) {
                HttpTransport.text(response, 404, "session " + sessionHex + " ended");
                return;
            }
            if (!s.isOutbound(this)) {
                HttpTransport.text(response, 409, "this leg carries no downstream frames");
                return;
            }
            Down old = current;
            current = d;
            if (old != null) {
                old.finish();
            }
            highestLast = Math.max(highestLast, last);
            d.start();
            if (!s.resumeOutbound(this, highestLast)) {
                d.finish();
            }
        });
    }

    // ---------------------------------------------------------------- the session's side (its context)

    private void onFrame(Frame frame) {
        Down d = current;
        if (d == null || !d.accepting) {
            ExitSession s = session;
            if (s != null) {
                s.controlFrameDropped(frame);
            }
            pause();
            return;
        }
        d.offer(encode(frame), urgent(frame));
        if (!d.accepting) {
            pause();
        }
    }

    /**
     * Whether a poll is answered at once for this frame. Not for the session's own PING (it pings on every attach until
     * it measured an RTT) nor for an ACK that acknowledges nothing new (every attach acknowledges again): answering
     * each poll with just those would turn an idle session's polling into a busy loop. They ride along with the next
     * answer, at the latest after poll-wait.
     */
    private boolean urgent(Frame frame) {
        if (frame instanceof Frame.Ping) {
            return false;
        }
        if (frame instanceof Frame.Ack ack) {
            boolean fresh = ack.ackedSeq() > highestAckOffered;
            highestAckOffered = Math.max(highestAckOffered, ack.ackedSeq());
            return fresh;
        }
        return true;
    }

    private void pause() {
        ExitSession s = session;
        if (s != null) {
            s.pauseOutbound(this);
        }
    }

    private Buffer encode(Frame frame) {
        return Buffer.buffer(Unpooled.wrappedBuffer(codec.encode(frame)));
    }

    private void ended(Down d) {
        if (current == d) {
            current = null;
            pause();
        }
    }

    @Override
    public void closeTransport(CloseCode code, String reason) {
        closed = true;
        transport.unregister(this);
        HttpServerResponse reply = handshakeReply;
        handshakeReply = null;
        if (reply != null) {
            // Before the WELCOME the client has no session keys: the refusal goes out unprotected.
            HttpTransport.reply(
                    reply, HttpTransport.status(code), new FrameCodec(codec.limits()), new Frame.Close(code, reason));
            return;
        }
        ExitSession s = session;
        if (s != null) {
            s.execute(() -> {
                dropHeld(404, "leg closed");
                Down d = current;
                if (d != null) {
                    d.finish();
                }
            });
        }
    }

    /** No request for the leg timeout: the leg is gone, its session waits for a RESUME or JOIN. */
    void expire() {
        if (closed) {
            return;
        }
        closed = true;
        transport.unregister(this);
        LOG.infof(
                "session %s: HTTP leg %s… idle for %ds, detached",
                sessionHex, shortId(), http.legTimeout().toSeconds());
        ExitSession s = session;
        if (s != null) {
            s.execute(() -> {
                dropHeld(404, "leg expired");
                Down d = current;
                if (d != null) {
                    d.finish();
                }
                s.legLost(this);
            });
        }
    }

    /**
     * One downstream GET. Streamed: chunked, a PING first and whenever idle, ended after stream-max or stream-max-bytes.
     * Polled: answered (Content-Length) as soon as frames are queued, or empty after poll-wait. Frames wait in a queue
     * bounded by poll-max-bytes only while the response's write queue is full; past it the response stops taking frames
     * and ends once drained. On the session's context.
     */
    private final class Down {
        private final HttpServerResponse response;
        private final boolean poll;
        private final ArrayDeque<Buffer> queue = new ArrayDeque<>();
        private long queued;
        private long written;
        private boolean accepting = true;
        private boolean finishing;
        private boolean ended;
        private boolean drainArmed;
        private boolean flushScheduled;
        private long lastWriteNanos;
        private long endTimer = -1;
        private long pingTimer = -1;
        private Context context;

        Down(HttpServerResponse response, boolean poll) {
            this.response = response;
            this.poll = poll;
        }

        void start() {
            context = Vertx.currentContext();
            response.putHeader(HttpTransport.SESSION_HEADER, sessionHex);
            if (poll) {
                endTimer = vertx.setTimer(http.pollWait().toMillis(), t -> {
                    endTimer = -1;
                    flush();
                });
                return;
            }
            response.setChunked(true)
                    .putHeader("Content-Type", "text/event-stream")
                    .putHeader("Cache-Control", "no-store, no-transform")
                    .putHeader("X-Accel-Buffering", "no");
            // The first PING lets the entry see at once whether this path streams or buffers.
            write(encode(new Frame.Ping(0)));
            endTimer = vertx.setTimer(http.streamMax().toMillis(), t -> {
                endTimer = -1;
                finish();
            });
            long every = http.streamPingInterval().toMillis();
            pingTimer = vertx.setPeriodic(every, t -> {
                if (!queue.isEmpty()) {
                    pump();
                } else if (accepting && System.nanoTime() - lastWriteNanos >= every * 1_000_000L) {
                    write(encode(new Frame.Ping(0)));
                }
            });
        }

        void offer(Buffer frame, boolean urgent) {
            if (poll) {
                if (!queue.isEmpty() && queued + frame.length() > http.pollMaxBytes()) {
                    accepting = false;
                    flush();
                    return;
                }
                queue.add(frame);
                queued += frame.length();
                if (urgent && !flushScheduled) {
                    flushScheduled = true;
                    // After the current task, so frames produced together travel in one answer.
                    context.runOnContext(v -> flush());
                }
                return;
            }
            if (queue.isEmpty() && !writeQueueFull()) {
                write(frame);
                return;
            }
            if (ended) {
                return;
            }
            if (queued + frame.length() > http.pollMaxBytes()) {
                finish();
                return;
            }
            queue.add(frame);
            queued += frame.length();
            armDrain();
        }

        private void write(Buffer b) {
            if (ended) {
                return;
            }
            try {
                response.write(b);
            } catch (IllegalStateException e) {
                connectionClosed();
                return;
            }
            written += b.length();
            lastWriteNanos = System.nanoTime();
            metrics.httpBytesDown(b.length());
            if (written >= http.streamMaxBytes() && accepting) {
                finish();
            }
        }

        /** Vert.x throws once the response is gone; then it is as good as closed. */
        private boolean writeQueueFull() {
            if (ended) {
                return true;
            }
            try {
                return response.writeQueueFull();
            } catch (IllegalStateException e) {
                connectionClosed();
                return true;
            }
        }

        private void armDrain() {
            if (!drainArmed && !ended) {
                drainArmed = true;
                try {
                    response.drainHandler(v -> context.runOnContext(x -> pump()));
                } catch (IllegalStateException e) {
                    connectionClosed();
                    return;
                }
                // The connection's event loop may have drained the queue before the handler was in place.
                if (!writeQueueFull()) {
                    context.runOnContext(x -> pump());
                }
            }
        }

        private void pump() {
            drainArmed = false;
            while (!queue.isEmpty() && !ended) {
                if (writeQueueFull()) {
                    armDrain();
                    return;
                }
                Buffer b = queue.poll();
                queued -= b.length();
                write(b);
            }
            if (finishing && queue.isEmpty()) {
                end();
            }
        }

        /** Takes no more frames; ends the response once what it accepted is written. */
        void finish() {
            accepting = false;
            if (finishing || ended) {
                return;
            }
            finishing = true;
            // The PING timer stays until the end: it also pumps a queue whose drain notification was missed.
            if (endTimer >= 0) {
                vertx.cancelTimer(endTimer);
                endTimer = -1;
            }
            ended(this);
            if (poll) {
                flush();
            } else if (queue.isEmpty()) {
                end();
            } else {
                armDrain();
            }
        }

        private void flush() {
            if (ended) {
                return;
            }
            accepting = false;
            cancelTimers();
            ended(this);
            Buffer out = Buffer.buffer((int) Math.min(queued, Integer.MAX_VALUE));
            for (Buffer b : queue) {
                out.appendBuffer(b);
            }
            queue.clear();
            queued = 0;
            ended = true;
            metrics.httpBytesDown(out.length());
            if (response.ended() || response.closed()) {
                return;
            }
            try {
                response.putHeader("Content-Type", HttpTransport.CONTENT_TYPE)
                        .putHeader("Cache-Control", "no-store, no-transform")
                        .end(out);
            } catch (IllegalStateException e) {
                LOG.debugf("poll response gone: %s", e.getMessage());
            }
        }

        private void end() {
            if (ended) {
                return;
            }
            ended = true;
            cancelTimers();
            if (!response.ended() && !response.closed()) {
                try {
                    response.end();
                } catch (IllegalStateException e) {
                    LOG.debugf("stream response gone: %s", e.getMessage());
                }
            }
        }

        /** The client went away: what was not written is resent on the next GET (it presents {@code last}). */
        void connectionClosed() {
            accepting = false;
            ended = true;
            queue.clear();
            queued = 0;
            cancelTimers();
            ended(this);
        }

        private void cancelTimers() {
            if (endTimer >= 0) {
                vertx.cancelTimer(endTimer);
                endTimer = -1;
            }
            if (pingTimer >= 0) {
                vertx.cancelTimer(pingTimer);
                pingTimer = -1;
            }
        }
    }
}
