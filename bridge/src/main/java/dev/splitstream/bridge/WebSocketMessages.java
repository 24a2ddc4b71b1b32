package dev.splitstream.bridge;

import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocketFrame;

/**
 * Turns the data frames of a WebSocket into binary messages without copying a message that came in one frame.
 *
 * <p>Vert.x's {@code binaryMessageHandler} appends every frame into a new buffer, so each message was copied (and its
 * buffer allocated and grown) once more after Vert.x had already copied the frame off Netty's pooled buffer. Installed as
 * the WebSocket's {@code frameHandler} instead, this hands over a single-frame message as the frame's own buffer, and
 * joins fragments (a proxy may split messages) into at most {@code maxMessage} bytes. A text message or broken
 * fragmentation is reported, not delivered.
 */
public final class WebSocketMessages implements Handler<WebSocketFrame> {
    /** Where messages go; both methods run on the WebSocket's event loop. */
    public interface Sink {
        /** One complete binary message; the buffer is the sink's. */
        void onMessage(Buffer message);

        /** The peer broke the rules (text, bad fragmentation, a message over the limit): close the connection. */
        void onInvalid(String reason);
    }

    private final int maxMessage;
    private final Sink sink;
    /** Fragments of an unfinished binary message, or null. */
    private Buffer partial;

    private boolean failed;

    public WebSocketMessages(int maxMessage, Sink sink) {
        this.maxMessage = maxMessage;
        this.sink = sink;
    }

    @Override
    public void handle(WebSocketFrame frame) {
        if (failed) {
            return;
        }
        if (frame.isText() || (frame.isContinuation() && partial == null) || (frame.isBinary() && partial != null)) {
            fail(frame.isText() ? "text message on a binary protocol" : "broken message fragmentation");
            return;
        }
        if (!frame.isBinary() && !frame.isContinuation()) {
            return; // control frames: Vert.x answers pings and handles the close itself
        }
        Buffer data = frame.binaryData();
        if (frame.isBinary() && frame.isFinal()) {
            if (data.length() > maxMessage) {
                fail("message of " + data.length() + " bytes exceeds " + maxMessage);
                return;
            }
            sink.onMessage(data);
            return;
        }
        int length = (partial == null ? 0 : partial.length()) + data.length();
        if (length > maxMessage) {
            fail("message of at least " + length + " bytes exceeds " + maxMessage);
            return;
        }
        if (partial == null) {
            partial = Buffer.buffer(Math.min(maxMessage, 2 * data.length()));
        }
        partial.appendBuffer(data);
        if (frame.isFinal()) {
            Buffer message = partial;
            partial = null;
            sink.onMessage(message);
        }
    }

    private void fail(String reason) {
        failed = true;
        partial = null;
        sink.onInvalid(reason);
    }
}
