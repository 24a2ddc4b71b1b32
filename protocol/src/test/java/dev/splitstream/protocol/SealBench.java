package dev.splitstream.protocol;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Locale;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Per-frame cost of frame protection on one thread: sealing a DATA frame of 1 byte, 1 KiB and 16 KiB into a direct
 * buffer (as the WebSocket writer does), opening it again, and a bare {@code Cipher.init} for comparison. Prints the
 * thread's CPU nanoseconds and heap bytes allocated per frame (median of rounds). CPU time on a loaded machine is
 * inflated by cache and frequency effects, but allocated bytes per frame do not depend on load. Not a test: run it with
 * {@code bench/seal.sh}.
 */
public final class SealBench {
    private static long sink; // defeats dead-code elimination

    private SealBench() {}

    public static void main(String[] args) throws Exception {
        boolean quick = args.length > 0 && args[0].equals("--quick");
        int rounds = quick ? 3 : 7;
        int perRound = quick ? 20_000 : 100_000;
        FrameCodec.warmUp(FrameCodec.WARM_UP_MAX_FRAMES, FrameCodec.WARM_UP_MAX_FRAMES);
        run(1, perRound / 4);
        printing = true;
        run(rounds, perRound);
    }

    private static void run(int rounds, int perRound) throws Exception {
        byte[] a = new byte[32];
        byte[] b = new byte[32];
        new SecureRandom().nextBytes(a);
        new SecureRandom().nextBytes(b);
        FrameProtection sender = new FrameProtection(new FrameKeys(new Secret(a), new Secret(b)));
        ByteBuffer head = ByteBuffer.allocate(FrameCodec.HEADER_LENGTH);
        if (printing) {
            System.out.printf(
                    Locale.ROOT,
                    "java %s, %d rounds of %d frames; per frame: CPU ns, heap bytes allocated%n",
                    System.getProperty("java.version"),
                    rounds,
                    perRound);
        }
        for (int size : new int[] {1, 1024, 16 * 1024}) {
            ByteBuffer payload = ByteBuffer.allocate(size);
            ByteBuffer direct = ByteBuffer.allocateDirect(size + FrameProtection.OVERHEAD + FrameCodec.HEADER_LENGTH);
            FrameCodec.Allocator intoDirect = bytes -> direct.clear();
            FrameCodec.Allocator intoHeap = ByteBuffer::allocate;
            measure("seal " + size, rounds, perRound, () -> {
                ByteBuffer sealed = sender.seal(head, payload, FrameCodec.MAX_VERSION, intoDirect);
                sink += sealed.remaining();
            });
            // seal and open: the receiver needs every envelope in order, so each is sealed here too (into the heap:
            // open decrypts in place)
            FrameProtection sender2 = new FrameProtection(new FrameKeys(new Secret(a), new Secret(b)));
            FrameProtection receiver2 = new FrameProtection(new FrameKeys(new Secret(b), new Secret(a)));
            measure("seal+open " + size, rounds, perRound, () -> {
                ByteBuffer sealed = sender2.seal(head, payload, FrameCodec.MAX_VERSION, intoHeap);
                sink += receiver2
                        .open(sealed, 0, sealed.remaining() - FrameCodec.HEADER_LENGTH)
                        .remaining();
            });
        }
        variants(a, rounds, perRound);
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        SecretKeySpec key = new SecretKeySpec(Arrays.copyOf(a, 32), "AES");
        byte[] nonce = new byte[12];
        long[] n = {1};
        measure("bare Cipher.init (encrypt)", rounds, perRound, () -> {
            ByteBuffer.wrap(nonce).putLong(4, n[0]++);
            cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
        });
        System.out.println("sink " + (sink & 1));
    }

    /** The same AES-GCM sealing through the JCE's ByteBuffer and byte[] entry points. */
    private static void variants(byte[] keyBytes, int rounds, int perRound) throws Exception {
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        SecretKeySpec key = new SecretKeySpec(keyBytes, "AES");
        byte[] nonce = new byte[12];
        long[] n = {1};
        byte[] aad = new byte[20];
        byte[] head = new byte[20];
        for (int size : new int[] {1, 1024, 16 * 1024}) {
            ByteBuffer payload = ByteBuffer.allocate(size);
            ByteBuffer direct = ByteBuffer.allocateDirect(size + 56);
            ByteBuffer heapOut = ByteBuffer.allocate(size + 56);
            byte[] scratch = new byte[size + 56];
            measure("bb->direct " + size, rounds, perRound, () -> {
                ByteBuffer.wrap(nonce).putLong(4, n[0]++);
                c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
                direct.clear();
                direct.put(aad);
                c.updateAAD(direct.duplicate().flip());
                c.update(ByteBuffer.wrap(head), direct);
                c.doFinal(payload.duplicate(), direct);
            });
            measure("bb->heap " + size, rounds, perRound, () -> {
                ByteBuffer.wrap(nonce).putLong(4, n[0]++);
                c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
                heapOut.clear();
                heapOut.put(aad);
                c.updateAAD(aad);
                c.update(ByteBuffer.wrap(head), heapOut);
                c.doFinal(payload.duplicate(), heapOut);
            });
            measure("array->scratch->direct " + size, rounds, perRound, () -> {
                ByteBuffer.wrap(nonce).putLong(4, n[0]++);
                c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
                c.updateAAD(aad);
                System.arraycopy(head, 0, scratch, 20, 20);
                System.arraycopy(payload.array(), 0, scratch, 40, size);
                int len = c.doFinal(scratch, 20, 20 + size, scratch, 20);
                direct.clear();
                direct.put(aad);
                direct.put(scratch, 20, len);
            });
            // opening, in place in a heap buffer (as FrameProtection.open): ciphertext made once, copied in each time
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, new byte[12]));
            c.updateAAD(aad);
            byte[] sealed = c.doFinal(new byte[20 + size]);
            byte[] in = new byte[20 + sealed.length];
            byte[] plainScratch = new byte[20 + size];
            measure("open bb in place " + size, rounds, perRound, () -> {
                System.arraycopy(sealed, 0, in, 20, sealed.length);
                c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, new byte[12]));
                c.updateAAD(aad);
                ByteBuffer whole = ByteBuffer.wrap(in);
                c.doFinal(whole.slice(20, sealed.length), whole.slice(20, sealed.length - 16));
            });
            measure("open array in place " + size, rounds, perRound, () -> {
                System.arraycopy(sealed, 0, in, 20, sealed.length);
                c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, new byte[12]));
                c.updateAAD(aad);
                c.doFinal(in, 20, sealed.length, in, 20);
            });
            measure("open array via scratch " + size, rounds, perRound, () -> {
                System.arraycopy(sealed, 0, in, 20, sealed.length);
                c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, new byte[12]));
                c.updateAAD(aad);
                int len = c.doFinal(in, 20, sealed.length, plainScratch, 0);
                System.arraycopy(plainScratch, 0, in, 20, len);
            });
        }
    }

    @FunctionalInterface
    private interface Op {
        void run() throws Exception;
    }

    /** False during the first pass over every case: the JIT has then seen each of them before anything is timed. */
    private static boolean printing;

    private static void measure(String name, int rounds, int perRound, Op op) throws Exception {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        for (int i = 0; i < perRound; i++) {
            op.run(); // warm-up
        }
        double[] ns = new double[rounds];
        double[] bytes = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            long cpu0 = threads.getCurrentThreadCpuTime();
            long alloc0 = threads.getThreadAllocatedBytes(tid);
            for (int i = 0; i < perRound; i++) {
                op.run();
            }
            ns[r] = (threads.getCurrentThreadCpuTime() - cpu0) / (double) perRound;
            bytes[r] = (threads.getThreadAllocatedBytes(tid) - alloc0) / (double) perRound;
        }
        Arrays.sort(ns);
        Arrays.sort(bytes);
        if (!printing) {
            return;
        }
        System.out.printf(Locale.ROOT, "%-28s %9.0f ns %7.0f B%n", name, ns[rounds / 2], bytes[rounds / 2]);
    }
}
