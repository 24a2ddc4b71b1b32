package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.LongSupplier;

/**
 * Two sessions, a client and a server, joined by an in-memory transport that carries encoded frames through
 * {@link FrameCodec} in two queues. Delivery is explicit (tests decide when and in which order), so a test can hold
 * frames back, drop the connection with frames in flight, and reconnect as a node would after a resume handshake.
 */
final class Link {
    final FrameCodec codec;
    final Session client;
    final Session server;
    final ArrayDeque<ByteBuffer> toServer = new ArrayDeque<>();
    final ArrayDeque<ByteBuffer> toClient = new ArrayDeque<>();
    /** Every frame the client's sink was handed, decoded again (for inspection). */
    final List<Frame> sentByClient = new ArrayList<>();
    /** Every frame the server's sink was handed, decoded again (for inspection). */
    final List<Frame> sentByServer = new ArrayList<>();

    boolean record = true;
    /** The codecs of the current connection (each leg's own when frames are protected). */
    private FrameCodec clientCodec;

    private FrameCodec serverCodec;
    /** Every (key, counter) pair sealed so far, across all connections, with the ciphertext it produced. */
    final java.util.Map<String, ByteBuffer> sealedOnce = new java.util.HashMap<>();

    private int generation;
    private FrameSink clientSink;
    private FrameSink serverSink;

    Link(Limits clientLimits, Limits serverLimits, SessionListener cl, SessionListener sl, LongSupplier nanos) {
        this(clientLimits, serverLimits, cl, sl, nanos, 0);
    }

    /** Two sessions whose handshake agreed to {@code capabilities}. */
    Link(
            Limits clientLimits,
            Limits serverLimits,
            SessionListener cl,
            SessionListener sl,
            LongSupplier nanos,
            int capabilities) {
        this.codec = new FrameCodec(Limits.defaults().withMaxPayload(Limits.HARD_MAX_PAYLOAD));
        byte[] sid = Frames.bytes(16, 42);
        Secret key = new Secret(Frames.bytes(32, 7));
        this.client = new Session(
                Session.Role.CLIENT,
                new HandshakeResult(
                        "t",
                        Frame.Intent.NEW,
                        sid,
                        FrameCodec.MAX_VERSION,
                        capabilities,
                        0,
                        key,
                        serverLimits.maxPayload(),
                        serverLimits.initialWindow()),
                clientLimits,
                cl,
                nanos);
        this.server = new Session(
                Session.Role.SERVER,
                new HandshakeResult(
                        "t",
                        Frame.Intent.NEW,
                        sid,
                        FrameCodec.MAX_VERSION,
                        capabilities,
                        0,
                        key,
                        serverLimits.maxPayload(),
                        serverLimits.initialWindow()),
                serverLimits,
                sl,
                nanos);
    }

    Link(Limits limits, SessionListener cl, SessionListener sl) {
        this(limits, limits, cl, sl, System::nanoTime);
    }

    /** A new connection: both sides attach, each presenting what it received (as the resume handshake does). */
    Link connect() throws ProtocolException {
        return connect(server.lastReceivedSeq(), client.lastReceivedSeq());
    }

    /**
     * A new connection after a handshake in which the server said it received up to {@code serverLast} and the client
     * up to {@code clientLast}.
     */
    Link connect(long serverLast, long clientLast) throws ProtocolException {
        return connect(serverLast, clientLast, codec, codec);
    }

    /**
     * A new connection whose two ends encode and decode with these codecs (the per-leg codecs of a protected
     * handshake). Checks on the way that no envelope counter is ever sealed twice under one key.
     */
    Link connect(long serverLast, long clientLast, FrameCodec clientLeg, FrameCodec serverLeg)
            throws ProtocolException {
        int g = ++generation;
        clientCodec = clientLeg;
        serverCodec = serverLeg;
        clientSink = sink(clientLeg, f -> {
            if (g == generation) {
                ByteBuffer b = clientLeg.encode(f);
                noNonceReuse("c" + System.identityHashCode(clientLeg), b);
                toServer.add(b);
                if (record) {
                    sentByClient.add(decode(b.duplicate()));
                }
            }
        });
        serverSink = sink(serverLeg, f -> {
            if (g == generation) {
                ByteBuffer b = serverLeg.encode(f);
                noNonceReuse("s" + System.identityHashCode(serverLeg), b);
                toClient.add(b);
                if (record) {
                    sentByServer.add(decode(b.duplicate()));
                }
            }
        });
        client.attach(clientSink, serverLast);
        server.attach(serverSink, clientLast);
        return this;
    }

    /** A sink that sends with {@code send} and reports {@code leg}'s deflated bytes, as the nodes' sinks do. */
    private static FrameSink sink(FrameCodec leg, java.util.function.Consumer<Frame> send) {
        return new FrameSink() {
            @Override
            public void send(Frame frame) {
                send.accept(frame);
            }

            @Override
            public long deflatedPayloadBytes() {
                return leg.deflatedPayloadBytes();
            }
        };
    }

    /** The client's sink of the current connection (the session's outbound path). */
    FrameSink clientSink() {
        return clientSink;
    }

    /** The connection drops: whatever was in flight is lost. */
    void drop() {
        generation++;
        client.detach(clientSink);
        server.detach(serverSink);
        toServer.clear();
        toClient.clear();
    }

    private void noNonceReuse(String leg, ByteBuffer b) {
        if (b.get(b.position() + 1) != FrameProtection.SEALED) {
            return;
        }
        String nonce = leg + "/" + b.getLong(b.position() + 8);
        if (sealedOnce.put(nonce, b.duplicate()) != null) {
            throw new AssertionError("envelope counter sealed twice on one leg: " + nonce);
        }
    }

    private Frame decode(ByteBuffer b) {
        if (b.get(b.position() + 1) == FrameProtection.SEALED) {
            return null; // sealed: not readable on the way (the receiving leg checks it)
        }
        try {
            return codec.decodeMessage(b);
        } catch (ProtocolException e) {
            throw new AssertionError(e);
        }
    }

    /** Delivers one queued frame to the server. */
    boolean deliverToServer() throws ProtocolException {
        ByteBuffer b = toServer.poll();
        if (b == null) {
            return false;
        }
        server.receive(serverCodec.decodeMessage(b));
        return true;
    }

    /** Delivers one queued frame to the client. */
    boolean deliverToClient() throws ProtocolException {
        ByteBuffer b = toClient.poll();
        if (b == null) {
            return false;
        }
        client.receive(clientCodec.decodeMessage(b));
        return true;
    }

    /** Delivers one frame from a randomly chosen non-empty direction; false when nothing is queued. */
    boolean deliverOne(Random random) throws ProtocolException {
        boolean s = !toServer.isEmpty();
        boolean c = !toClient.isEmpty();
        if (s && c) {
            return random.nextBoolean() ? deliverToServer() : deliverToClient();
        }
        return s ? deliverToServer() : deliverToClient();
    }

    /** Delivers until both queues are empty, then flushes acks and delivers those too. */
    void settle() throws ProtocolException {
        for (int round = 0; round < 1000; round++) {
            int steps = 0;
            while (deliverToServer() | deliverToClient()) {
                if (++steps > 10_000_000) {
                    fail("link does not settle");
                }
            }
            client.flushAck();
            server.flushAck();
            if (toServer.isEmpty() && toClient.isEmpty()) {
                return;
            }
        }
        fail("link does not settle");
    }

    /** Frames of one type the client sent. */
    <T extends Frame> List<T> sentByClient(Class<T> type) {
        return sentByClient.stream().filter(type::isInstance).map(type::cast).toList();
    }

    /** Frames of one type the server sent. */
    <T extends Frame> List<T> sentByServer(Class<T> type) {
        return sentByServer.stream().filter(type::isInstance).map(type::cast).toList();
    }
}
