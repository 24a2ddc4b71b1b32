package dev.splitstream.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** A stream handler and session listener that records everything, for assertions. */
class Recorder implements StreamHandler, SessionListener {
    final ByteArrayOutputStream received = new ByteArrayOutputStream();
    final List<String> events = new ArrayList<>();
    final List<Stream> opened = new ArrayList<>();
    int writable;
    boolean fin;
    ResetCode resetCode;
    String resetMessage;
    CloseCode closeCode;
    String closeMessage;
    long rtt = -1;
    long acknowledged;
    /** Accept streams the peer opens right away, with this recorder as handler. */
    boolean autoAccept = true;
    /** Return credit for data right away. */
    boolean autoConsume = true;
    /** Bytes the receive windows of this recorder's streams may still grow by, together. */
    long windowGrowthLeft = Long.MAX_VALUE;

    @Override
    public void onStreamOpened(Stream stream) {
        events.add("opened " + stream.id() + " " + stream.host() + ":" + stream.port());
        opened.add(stream);
        if (autoAccept) {
            stream.accept(this);
        }
    }

    @Override
    public void onClosed(CloseCode code, String message) {
        events.add("closed " + code);
        closeCode = code;
        closeMessage = message;
    }

    @Override
    public void onRtt(long rttNanos) {
        rtt = rttNanos;
    }

    /** Runs on every acknowledgement (a handler that writes from it, as a budget waiter returning credit does). */
    Runnable onAck = () -> {};

    @Override
    public void onAcknowledged(Stream stream, int bytes) {
        acknowledged += bytes;
        onAck.run();
    }

    @Override
    public int growWindow(Stream stream, int wanted) {
        int granted = (int) Math.min(wanted, windowGrowthLeft);
        windowGrowthLeft -= granted;
        return granted;
    }

    @Override
    public void onAccepted(Stream stream) {
        events.add("accepted " + stream.id());
    }

    @Override
    public void onData(Stream stream, ByteBuffer data) {
        byte[] b = new byte[data.remaining()];
        data.duplicate().get(b);
        received.writeBytes(b);
        if (autoConsume) {
            stream.consumed(b.length);
        }
    }

    @Override
    public void onFin(Stream stream) {
        events.add("fin " + stream.id());
        fin = true;
    }

    @Override
    public void onReset(Stream stream, ResetCode code, String message) {
        events.add("reset " + stream.id() + " " + code);
        resetCode = code;
        resetMessage = message;
    }

    @Override
    public void onWritable(Stream stream) {
        writable++;
    }
}
