package dev.splitstream.protocol;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.ByteBuffer;

/**
 * Coverage-guided fuzzing of the decoder with Jazzer: whatever the bytes, decoding either yields frames that encode
 * back to the same bytes or throws {@link ProtocolException}; never another exception, never an allocation beyond the
 * limits.
 */
class FrameCodecFuzzTest {
    private static final FrameCodec CODEC = new FrameCodec(Limits.defaults().withMaxPayload(4096));
    private static final FrameCodec DEFLATING = CODEC.withDeflate(Deflate.defaults());

    @FuzzTest(maxDuration = "5s")
    void decoderOnlyEverThrowsProtocolException(byte[] input) {
        try {
            Frame f = CODEC.decodeMessage(ByteBuffer.wrap(input));
            ByteBuffer again = CODEC.encode(f);
            if (!again.equals(ByteBuffer.wrap(input))) {
                throw new AssertionError("decoded frame does not encode back to its bytes: " + f);
            }
        } catch (ProtocolException expected) {
            // bad input, reported as such
        }
        try {
            DEFLATING.decodeMessage(ByteBuffer.wrap(input)); // compressed DATA: inflation is bounded too
        } catch (ProtocolException expected) {
            // bad input, reported as such
        }
        ByteBuffer stream = ByteBuffer.wrap(input);
        try {
            while (CODEC.decodeNext(stream) != null) {
                // consume frames back to back
            }
        } catch (ProtocolException expected) {
            // bad input, reported as such
        }
    }
}
