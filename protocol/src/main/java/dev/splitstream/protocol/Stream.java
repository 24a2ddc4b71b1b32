package dev.splitstream.protocol;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * One multiplexed, flow-controlled, bidirectional byte stream of a {@link Session}. Confined to the session's thread.
 *
 * <p>Sending: bytes go out as DATA frames of at most {@link Session#sendMaxPayload()} bytes, never more than the
 * peer's window (its credit) allows and only while the session's resend buffer has room; the rest waits in a queue that
 * holds at most what the application wrote after {@link #write} last returned false. Receiving: the peer may send at most
 * the window this side granted; the application returns credit with {@link #consumed(int)}. The window grows toward
 * the bandwidth-delay product (doubling when a whole window was consumed within two round trips) up to
 * {@link Limits#maxWindow()}.
 */
public final class Stream {
    private enum State {
        /** This side sent OPEN and waits for ACCEPT. */
        OPENING,
        /** The peer sent OPEN; this side has not accepted yet. */
        PENDING_ACCEPT,
        OPEN,
        CLOSED
    }

    private final Session session;
    private final int id;
    private final String host;
    private final int port;
    private final boolean local;
    private StreamHandler handler;
    private State state;

    // sending
    private long sendCredit;
    private final ArrayDeque<ByteBuffer> queue = new ArrayDeque<>();
    private long queuedBytes;
    private boolean finQueued;
    private boolean finSent;
    private boolean wantWritable;
    boolean inBlockedQueue;

    // receiving
    private int recvWindow;
    private long recvCredit;
    private long unconsumed;
    private long pendingUpdate;
    private boolean finReceived;
    private long epochStartNanos;
    private long epochConsumed;

    // why it ended
    private ResetCode resetCode;
    private String resetMessage;

    Stream(Session session, int id, String host, int port, boolean local, StreamHandler handler, int peerWindow) {
        this.session = session;
        this.id = id;
        this.host = host;
        this.port = port;
        this.local = local;
        this.handler = handler;
        this.state = local ? State.OPENING : State.PENDING_ACCEPT;
        this.sendCredit = peerWindow;
        this.recvWindow = session.limits().initialWindow();
        this.recvCredit = recvWindow;
        this.epochStartNanos = session.nanoTime();
    }

    /** Stream id: odd when the client opened it, even when the server did. */
    public int id() {
        return id;
    }

    /** Target host the opener asked for. */
    public String host() {
        return host;
    }

    /** Target port the opener asked for. */
    public int port() {
        return port;
    }

    /** The session this stream belongs to. */
    public Session session() {
        return session;
    }

    /** True when this side opened the stream. */
    public boolean isLocal() {
        return local;
    }

    /** True once the stream is reset, or finished in both directions, or its session closed. */
    public boolean isClosed() {
        return state == State.CLOSED;
    }

    /** Bytes this side may still send before the peer grants more. */
    public long sendWindow() {
        return sendCredit;
    }

    /** The receive window this side grants the peer now (grows with auto-tuning). */
    public int receiveWindow() {
        return recvWindow;
    }

    /** Bytes written but not yet sent (waiting for window or resend-buffer room). */
    public long queuedBytes() {
        return queuedBytes;
    }

    /**
     * For a stream the peer opened: its target is connected; start exchanging data with this handler. If the stream was
     * reset meanwhile (the peer gave up, or the session closed) the handler's {@link StreamHandler#onReset} is called
     * at once, so whatever was dialed can be closed.
     *
     * @throws IllegalStateException if this side opened the stream or already accepted it
     */
    public void accept(StreamHandler handler) {
        if (state == State.CLOSED && !local && this.handler == null) {
            this.handler = handler;
            handler.onReset(this, resetCode, resetMessage);
            return;
        }
        if (state != State.PENDING_ACCEPT) {
            throw new IllegalStateException("stream " + id + " is not waiting to be accepted (" + state + ")");
        }
        this.handler = handler;
        state = State.OPEN;
        session.sendReliable(new Frame.Accept(id, session.nextSeq(), recvWindow));
        progress();
    }

    /**
     * Queues bytes for the peer; the session takes ownership of {@code data}'s content (do not modify it afterwards;
     * the buffer object's position and limit are not touched). Bytes go out as the peer's window and the session's
     * resend buffer allow. Writes to a reset or closed stream are dropped.
     *
     * @return false when the caller should stop producing (pause its socket) until {@link StreamHandler#onWritable}
     * @throws IllegalStateException after {@link #finish()}
     */
    public boolean write(ByteBuffer data) {
        if (finQueued) {
            throw new IllegalStateException("write after finish on stream " + id);
        }
        if (state == State.CLOSED) {
            return false;
        }
        if (data.hasRemaining()) {
            queue.addLast(data.slice());
            queuedBytes += data.remaining();
            pump();
        }
        if (isWritable()) {
            return true;
        }
        wantWritable = true;
        if (!session.hasRoom()) {
            session.markBlocked(this);
        }
        return false;
    }

    /** True when {@link #write} would accept more without queueing beyond the window. */
    public boolean isWritable() {
        return state == State.OPEN && !finQueued && queuedBytes == 0 && sendCredit > 0 && session.hasRoom();
    }

    /** Half-closes this side: after queued data, a FIN; the peer may still send. Idempotent. */
    public void finish() {
        if (state == State.CLOSED || finQueued) {
            return;
        }
        finQueued = true;
        wantWritable = false;
        pump();
    }

    /** Aborts the stream both ways and tells the peer why. Idempotent. Does not call this stream's handler. */
    public void reset(ResetCode code, String message) {
        if (state == State.CLOSED) {
            return;
        }
        String text = Session.truncate(
                message == null ? "" : message, session.limits().maxMessageLength());
        close(code, text);
        if (!session.isClosed()) {
            session.sendReliable(new Frame.Reset(id, session.nextSeq(), code, text));
        }
    }

    /**
     * Returns {@code bytes} of receive credit after the application handed on data from {@link StreamHandler#onData}.
     *
     * @throws IllegalArgumentException if more is returned than was delivered
     */
    public void consumed(int bytes) {
        if (bytes < 0 || bytes > unconsumed) {
            throw new IllegalArgumentException(
                    "consumed " + bytes + " bytes but only " + unconsumed + " were delivered and not yet consumed");
        }
        if (state == State.CLOSED) {
            unconsumed -= bytes;
            return;
        }
        unconsumed -= bytes;
        pendingUpdate += bytes;
        epochConsumed += bytes;
        if (epochConsumed >= recvWindow) {
            autoTune();
        }
        if (!finReceived && pendingUpdate > 0 && pendingUpdate >= Math.max(1, recvWindow / 4)) {
            long increment = pendingUpdate;
            pendingUpdate = 0;
            recvCredit += increment;
            session.sendReliable(new Frame.WindowUpdate(id, session.nextSeq(), (int) increment));
        }
    }

    /**
     * Credit loops are never assumed shorter than this. The smoothed RTT comes from idle pings, but credit travels
     * behind queued data and through busy event loops: on a loaded host a loopback credit loop took tens of
     * milliseconds while pings answered in 0.2 ms, and a window judged by the ping never grew (25 MiB/s with 1 MiB).
     */
    static final long MIN_CREDIT_LOOP_NANOS = 20_000_000;

    /**
     * Doubles the window when a whole window was consumed within two credit loops (the window limits throughput), a
     * credit loop being the smoothed RTT but at least {@link #MIN_CREDIT_LOOP_NANOS}, as far as the handler lets it
     * grow ({@link StreamHandler#growWindow}).
     */
    private void autoTune() {
        long now = session.nanoTime();
        long rtt = session.rttNanos();
        int max = session.limits().maxWindow();
        long loop = Math.max(rtt, MIN_CREDIT_LOOP_NANOS);
        if (rtt > 0 && now - epochStartNanos < 2 * loop && recvWindow < max) {
            int wanted = (int) Math.min((long) recvWindow * 2, max) - recvWindow;
            int granted = handler == null ? wanted : Math.max(0, Math.min(wanted, handler.growWindow(this, wanted)));
            pendingUpdate += granted;
            recvWindow += granted;
        }
        epochStartNanos = now;
        epochConsumed = 0;
    }

    // ------------------------------------------------------------------ driven by the session

    void onAccept(int window) throws ProtocolException {
        if (state != State.OPENING) {
            throw new ProtocolException("ACCEPT for stream " + id + " which is " + state);
        }
        state = State.OPEN;
        sendCredit = window;
        handler.onAccepted(this);
        progress();
    }

    void onData(ByteBuffer payload, boolean fin) throws ProtocolException {
        if (state != State.OPEN) {
            throw new ProtocolException("DATA on stream " + id + " before it was accepted");
        }
        if (finReceived) {
            throw new ProtocolException("DATA on stream " + id + " after its FIN");
        }
        int n = payload.remaining();
        if (n > recvCredit) {
            String msg = "FLOW_CONTROL: stream " + id + " received " + n + " bytes but its window had only "
                    + recvCredit + " left";
            close(ResetCode.FLOW_CONTROL, msg);
            handler.onReset(this, ResetCode.FLOW_CONTROL, msg);
            throw new ProtocolException(msg);
        }
        recvCredit -= n;
        if (n > 0) {
            unconsumed += n;
            handler.onData(this, payload);
        }
        if (fin && state == State.OPEN) {
            finReceived = true;
            handler.onFin(this);
            closeIfDone();
        }
    }

    void onWindowUpdate(int increment) throws ProtocolException {
        if (sendCredit + increment > Integer.MAX_VALUE) {
            throw new ProtocolException("FLOW_CONTROL: stream " + id + " window would exceed " + Integer.MAX_VALUE);
        }
        sendCredit += increment;
        progress();
    }

    void onAcknowledged(int bytes) {
        if (handler != null) {
            handler.onAcknowledged(this, bytes);
        }
    }

    void onPeerReset(ResetCode code, String message) {
        if (state == State.CLOSED) {
            return;
        }
        close(code, message);
        if (handler != null) {
            handler.onReset(this, code, message);
        }
    }

    void onSessionClosed(String message) {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        resetCode = ResetCode.SESSION_CLOSED;
        resetMessage = message;
        dropQueue();
        if (handler != null) {
            handler.onReset(this, ResetCode.SESSION_CLOSED, message);
        }
    }

    /** Sends what the window and the resend buffer allow, then tells a paused writer if it may go on. */
    void progress() {
        pump();
        if (state == State.CLOSED) {
            return;
        }
        if (wantWritable && isWritable()) {
            wantWritable = false;
            handler.onWritable(this);
        } else if (wantWritable && !session.hasRoom()) {
            session.markBlocked(this);
        }
    }

    private void pump() {
        if (state != State.OPEN) {
            return;
        }
        int maxPayload = session.sendMaxPayload();
        while (!queue.isEmpty() && sendCredit > 0) {
            ByteBuffer head = queue.peekFirst();
            int wanted = (int) Math.min(Math.min(head.remaining(), sendCredit), maxPayload);
            int n = session.dataRoom(wanted);
            if (n == 0) {
                session.markBlocked(this);
                return;
            }
            ByteBuffer slice;
            if (n == head.remaining()) {
                slice = head;
                queue.pollFirst();
            } else {
                slice = head.slice(head.position(), n);
                head.position(head.position() + n);
            }
            queuedBytes -= n;
            sendCredit -= n;
            boolean fin = finQueued && queue.isEmpty();
            session.sendReliable(new Frame.Data(id, session.nextSeq(), slice, fin));
            if (fin) {
                finSent = true;
                closeIfDone();
                return;
            }
        }
        if (queue.isEmpty() && finQueued && !finSent) {
            finSent = true;
            session.sendReliable(new Frame.Data(id, session.nextSeq(), ByteBuffer.allocate(0), true));
            closeIfDone();
        }
    }

    private void closeIfDone() {
        if (finSent && finReceived && state != State.CLOSED) {
            state = State.CLOSED;
            session.removeStream(this);
        }
    }

    private void close(ResetCode code, String message) {
        state = State.CLOSED;
        resetCode = code;
        resetMessage = message;
        dropQueue();
        session.removeStream(this);
    }

    private void dropQueue() {
        queue.clear();
        queuedBytes = 0;
        wantWritable = false;
    }

    @Override
    public String toString() {
        return "Stream[" + id + " " + host + ":" + port + " " + state + "]";
    }
}
