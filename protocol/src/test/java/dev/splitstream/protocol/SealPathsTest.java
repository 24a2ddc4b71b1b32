package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link FrameProtection#seal} takes two paths: a frame of up to {@link FrameProtection#SCRATCH_MAX} sealed bytes goes
 * through a per-thread array, a larger one through the JDK's ByteBuffer entry points. Both must produce the same
 * envelope, byte for byte, whether the output is a heap or a direct buffer and whatever the inputs' positions, and
 * leave the inputs untouched.
 */
class SealPathsTest {
    private final SecureRandom random = new SecureRandom();

    @Test
    void everyPathSealsTheSameEnvelopeAndItOpens() throws ProtocolException {
        byte[] a = new byte[32];
        byte[] b = new byte[32];
        random.nextBytes(a);
        random.nextBytes(b);
        int big = FrameProtection.SCRATCH_MAX - FrameProtection.TAG_LENGTH - FrameCodec.HEADER_LENGTH;
        int[] sizes = {0, 1, 15, 16, 17, 1024, 16 * 1024 + 3, big, big + 1, 200_000};
        // Four senders with the same keys seal the same frames in the same order, so the same counters: one into the
        // heap, one into a direct buffer, one with the payload in a direct buffer, one as a single head (no payload).
        FrameProtection heap = new FrameProtection(new FrameKeys(new Secret(a), new Secret(b)));
        FrameProtection direct = new FrameProtection(new FrameKeys(new Secret(a), new Secret(b)));
        FrameProtection directIn = new FrameProtection(new FrameKeys(new Secret(a), new Secret(b)));
        FrameProtection joined = new FrameProtection(new FrameKeys(new Secret(a), new Secret(b)));
        FrameProtection receiver = new FrameProtection(new FrameKeys(new Secret(b), new Secret(a)));
        for (int size : sizes) {
            byte[] headBytes = new byte[FrameCodec.HEADER_LENGTH];
            byte[] payloadBytes = new byte[size];
            random.nextBytes(headBytes);
            random.nextBytes(payloadBytes);
            // inputs that do not start at 0 of their arrays
            ByteBuffer head = ByteBuffer.allocate(headBytes.length + 7)
                    .position(7)
                    .slice()
                    .put(headBytes)
                    .flip();
            ByteBuffer payload = ByteBuffer.allocate(size + 5).position(3).limit(3 + size);
            payload.put(3, payloadBytes);
            ByteBuffer payloadDirect =
                    ByteBuffer.allocateDirect(size).put(payloadBytes).flip();
            ByteBuffer whole = ByteBuffer.allocate(headBytes.length + size)
                    .put(headBytes)
                    .put(payloadBytes)
                    .flip();

            ByteBuffer h =
                    heap.seal(head, payload, 2, n -> ByteBuffer.allocate(n + 9).position(9));
            ByteBuffer d = direct.seal(
                    head, payload, 2, n -> ByteBuffer.allocateDirect(n + 4).position(4));
            ByteBuffer di = directIn.seal(head, payloadDirect, 2, ByteBuffer::allocateDirect);
            ByteBuffer j = joined.seal(whole, null, 2, ByteBuffer::allocate);

            assertThat(head.position()).as("head untouched").isZero();
            assertThat(payload.position()).as("payload untouched").isEqualTo(3);
            assertThat(bytes(h))
                    .as("size %d", size)
                    .isEqualTo(bytes(d))
                    .isEqualTo(bytes(di))
                    .isEqualTo(bytes(j));
            assertThat(h.remaining())
                    .isEqualTo(FrameCodec.HEADER_LENGTH + headBytes.length + size + FrameProtection.TAG_LENGTH);

            ByteBuffer copy = ByteBuffer.wrap(bytes(h));
            ByteBuffer opened = receiver.open(copy, 0, copy.remaining() - FrameCodec.HEADER_LENGTH);
            byte[] expected = bytes(whole);
            assertThat(bytes(opened))
                    .as("size %d opens to what was sealed", size)
                    .isEqualTo(expected);
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
