package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocketFrame;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class WebSocketMessagesTest {
    private final List<Buffer> messages = new ArrayList<>();
    private final List<String> invalid = new ArrayList<>();
    private final WebSocketMessages handler = new WebSocketMessages(10, new WebSocketMessages.Sink() {
        @Override
        public void onMessage(Buffer message) {
            messages.add(message);
        }

        @Override
        public void onInvalid(String reason) {
            invalid.add(reason);
        }
    });

    @Test
    void aOneFrameMessageIsTheFramesOwnBuffer() {
        WebSocketFrame frame = WebSocketFrame.binaryFrame(Buffer.buffer("hello"), true);
        handler.handle(frame);
        assertThat(messages).hasSize(1);
        assertThat(messages.get(0).toString()).isEqualTo("hello");
        // not copied: the frame's bytes, seen through the same backing array
        assertThat(messages.get(0).getByteBuf().array())
                .isSameAs(frame.binaryData().getByteBuf().array());
        assertThat(invalid).isEmpty();
    }

    @Test
    void fragmentsAreJoinedIntoOneMessage() {
        handler.handle(WebSocketFrame.binaryFrame(Buffer.buffer("abc"), false));
        handler.handle(WebSocketFrame.continuationFrame(Buffer.buffer("def"), false));
        assertThat(messages).isEmpty();
        handler.handle(WebSocketFrame.continuationFrame(Buffer.buffer("gh"), true));
        handler.handle(WebSocketFrame.binaryFrame(Buffer.buffer("next"), true));
        assertThat(messages).extracting(Buffer::toString).containsExactly("abcdefgh", "next");
        assertThat(invalid).isEmpty();
    }

    @Test
    void aMessageOverTheLimitIsRefusedWhetherWholeOrFragmented() {
        handler.handle(WebSocketFrame.binaryFrame(Buffer.buffer("0123456789x"), true));
        assertThat(invalid).singleElement().asString().contains("exceeds 10");
        WebSocketMessages other = new WebSocketMessages(10, new WebSocketMessages.Sink() {
            @Override
            public void onMessage(Buffer message) {
                messages.add(message);
            }

            @Override
            public void onInvalid(String reason) {
                invalid.add(reason);
            }
        });
        other.handle(WebSocketFrame.binaryFrame(Buffer.buffer("012345"), false));
        other.handle(WebSocketFrame.continuationFrame(Buffer.buffer("6789x"), true));
        assertThat(invalid).hasSize(2).last().asString().contains("exceeds 10");
        assertThat(messages).isEmpty();
    }

    @Test
    void textAndBrokenFragmentationAreRefusedAndNothingAfterIsDelivered() {
        handler.handle(WebSocketFrame.textFrame("hi", true));
        handler.handle(WebSocketFrame.binaryFrame(Buffer.buffer("later"), true));
        assertThat(invalid).singleElement().asString().contains("text");
        assertThat(messages).isEmpty();
    }

    @Test
    void aContinuationWithoutAStartOrANewMessageInsideOneIsRefused() {
        handler.handle(WebSocketFrame.continuationFrame(Buffer.buffer("x"), true));
        assertThat(invalid).singleElement().asString().contains("fragmentation");
        invalid.clear();
        WebSocketMessages other = new WebSocketMessages(10, new WebSocketMessages.Sink() {
            @Override
            public void onMessage(Buffer message) {
                messages.add(message);
            }

            @Override
            public void onInvalid(String reason) {
                invalid.add(reason);
            }
        });
        other.handle(WebSocketFrame.binaryFrame(Buffer.buffer("a"), false));
        other.handle(WebSocketFrame.binaryFrame(Buffer.buffer("b"), true));
        assertThat(invalid).singleElement().asString().contains("fragmentation");
        assertThat(messages).isEmpty();
    }
}
