package dev.splitstream.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;

/** ROUTE_LOG: the path a report may carry, what the codec refuses, and how a session offers and receives reports. */
class RouteLogTest {
    private final FrameCodec codec = new FrameCodec(Limits.defaults());

    private static Frame.RouteLog report(String path) {
        return new Frame.RouteLog("web", Frame.RouteVia.TOKEN, "GET", path, 200, 3_100, 10, 1_234, 0);
    }

    @Test
    void loggablePathDropsQueryAndFragment() {
        assertThat(Frame.RouteLog.loggablePath("/a/b?token=secret#x")).isEqualTo("/a/b");
        assertThat(Frame.RouteLog.loggablePath("/a#frag?q")).isEqualTo("/a");
        assertThat(Frame.RouteLog.loggablePath("?only=query")).isEqualTo("/");
        assertThat(Frame.RouteLog.loggablePath("")).isEqualTo("/");
        assertThat(Frame.RouteLog.loggablePath(null)).isEqualTo("/");
        assertThat(Frame.RouteLog.loggablePath("relative")).isEqualTo("/relative");
    }

    @Test
    void loggablePathReplacesControlCharacters() {
        assertThat(Frame.RouteLog.loggablePath("/a\nb\r\u0000c\u007f")).isEqualTo("/a?b??c?");
    }

    @Test
    void loggablePathIsCutToTheLimitAtACharacterBoundary() {
        String exact = "/" + "a".repeat(255);
        assertThat(Frame.RouteLog.loggablePath(exact)).isEqualTo(exact);
        String cut = Frame.RouteLog.loggablePath("/" + "a".repeat(400));
        assertThat(cut).endsWith("\u2026").startsWith("/aaa");
        assertThat(cut.getBytes(StandardCharsets.UTF_8)).hasSizeLessThanOrEqualTo(Frame.RouteLog.MAX_PATH);
        for (String wide : List.of("\u00e9", "\u20ac", "\uD83D\uDE00")) {
            String p = Frame.RouteLog.loggablePath("/" + wide.repeat(300));
            byte[] utf8 = p.getBytes(StandardCharsets.UTF_8);
            assertThat(utf8.length).as(wide).isBetween(Frame.RouteLog.MAX_PATH - 6, Frame.RouteLog.MAX_PATH);
            assertThat(new String(utf8, StandardCharsets.UTF_8)).isEqualTo(p); // no split character
            assertThat(p).endsWith("\u2026");
        }
    }

    @Test
    void everyLoggablePathEncodes() throws Exception {
        for (String p : List.of("/", "/\u00e9".repeat(200), "/x?y", "\u0001", "/" + "\uD83D\uDE00".repeat(100))) {
            Frame.RouteLog r = report(Frame.RouteLog.loggablePath(p));
            assertThat(codec.decodeMessage(codec.encode(r))).isEqualTo(r);
        }
    }

    @Test
    void encoderRefusesWhatADecoderWouldRefuse() {
        assertThatThrownBy(() -> codec.encode(report("no-slash"))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> codec.encode(report("/a\nb"))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> codec.encode(report("/" + "a".repeat(256))))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() ->
                        codec.encode(new Frame.RouteLog("web", Frame.RouteVia.HOST, "GE T", "/", 200, 0, 0, 0, 0)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(
                        () -> codec.encode(new Frame.RouteLog("web", Frame.RouteVia.HOST, "GET", "/", 42, 0, 0, 0, 0)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() ->
                        codec.encode(new Frame.RouteLog("web", Frame.RouteVia.HOST, "GET", "/", 200, -1, 0, 0, 0)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /** A ROUTE_LOG body written by hand, so the decoder can be shown what no encoder writes. */
    private static byte[] raw(int via, int status, String service, String method, byte[] path) {
        byte[] s = service.getBytes(StandardCharsets.UTF_8);
        byte[] m = method.getBytes(StandardCharsets.UTF_8);
        int body = 31 + 2 + s.length + 2 + m.length + 2 + path.length;
        ByteBuffer b = ByteBuffer.allocate(20 + body);
        b.put((byte) 2)
                .put((byte) 0x22)
                .put((byte) 0)
                .put((byte) 0)
                .putInt(0)
                .putLong(0)
                .putInt(body);
        b.put((byte) via)
                .putShort((short) status)
                .putInt(0)
                .putLong(1)
                .putLong(2)
                .putLong(3);
        b.putShort((short) s.length).put(s).putShort((short) m.length).put(m);
        b.putShort((short) path.length).put(path);
        return b.array();
    }

    private AbstractThrowableAssert<?, ? extends Throwable> assertRejected(byte[] wire) {
        return assertThatThrownBy(() -> codec.decodeMessage(ByteBuffer.wrap(wire)))
                .isInstanceOf(ProtocolException.class);
    }

    @Test
    void decoderAcceptsAHandWrittenReport() throws Exception {
        Frame f = codec.decodeMessage(ByteBuffer.wrap(raw(3, 204, "api", "DELETE", "/x".getBytes())));
        assertThat(f).isEqualTo(new Frame.RouteLog("api", Frame.RouteVia.HUB, "DELETE", "/x", 204, 1, 2, 3, 0));
    }

    @Test
    void decoderRefusesMalformedReports() {
        byte[] ok = "/ok".getBytes(StandardCharsets.UTF_8);
        assertRejected(raw(0, 200, "web", "GET", ok)).hasMessageContaining("unknown via 0");
        assertRejected(raw(4, 200, "web", "GET", ok)).hasMessageContaining("unknown via 4");
        assertRejected(raw(1, 42, "web", "GET", ok)).hasMessageContaining("status 42");
        assertRejected(raw(1, 1000, "web", "GET", ok)).hasMessageContaining("status 1000");
        assertRejected(raw(1, 200, "Web", "GET", ok)).hasMessageContaining("DNS label");
        assertRejected(raw(1, 200, "web", "GE T", ok)).hasMessageContaining("HTTP token");
        assertRejected(raw(1, 200, "web", "", ok)).hasMessageContaining("HTTP token");
        assertRejected(raw(1, 200, "web", "A".repeat(17), ok)).hasMessageContaining("exceeds 16");
        assertRejected(raw(1, 200, "web", "GET", "ok".getBytes())).hasMessageContaining("must start with '/'");
        assertRejected(raw(1, 200, "a", "G", new byte[0])).hasMessageContaining("at least 40");
        assertRejected(raw(1, 200, "web", "GET", new byte[0])).hasMessageContaining("must start with");
        assertRejected(raw(1, 200, "web", "GET", "/a\u001bb".getBytes())).hasMessageContaining("control character");
        assertRejected(raw(1, 200, "web", "GET", ("/" + "a".repeat(256)).getBytes()))
                .hasMessageContaining("exceeds 256");
        assertRejected(raw(1, 200, "web", "GET", new byte[] {'/', (byte) 0xC3}))
                .hasMessageContaining("not valid UTF-8");
        byte[] negative = raw(1, 200, "web", "GET", ok);
        negative[27] = (byte) 0x80; // latency's top bit
        assertRejected(negative).hasMessageContaining("below 2^63");
    }

    // ------------------------------------------------------------------ sessions

    static final class Agent extends Recorder {
        final List<Frame.RouteLog> reports = new ArrayList<>();

        @Override
        public void onRouteLog(Frame.RouteLog report) {
            reports.add(report);
        }
    }

    private final Agent agent = new Agent();
    private final Recorder exit = new Recorder();

    private Link link(int capabilities) throws Exception {
        return new Link(Limits.defaults(), Limits.defaults(), agent, exit, System::nanoTime, capabilities).connect();
    }

    private static void deliverAll(Link link) throws Exception {
        while (link.deliverToServer() | link.deliverToClient()) {
            // until both queues are empty
        }
    }

    @Test
    void anAgreedReportReachesTheAgentUnnumbered() throws Exception {
        Link link = link(Capabilities.EXPOSE | Capabilities.ROUTE_LOG);
        Frame.RouteLog r = report("/index.html");
        assertThat(link.server.offerRouteLog(r)).isEqualTo(Session.Offer.SENT);
        deliverAll(link);
        assertThat(agent.reports).containsExactly(r);
        assertThat(link.server.lastSentSeq()).isZero();
    }

    @Test
    void aPeerThatDidNotAgreeGetsNoReport() throws Exception {
        Link link = link(Capabilities.EXPOSE);
        int before = link.sentByServer.size();
        assertThat(link.server.offerRouteLog(report("/"))).isEqualTo(Session.Offer.NOT_AGREED);
        assertThat(link.sentByServer).hasSize(before);
    }

    @Test
    void aReportWithoutAgreementIsAProtocolError() throws Exception {
        Link link = link(Capabilities.EXPOSE);
        assertThatThrownBy(() -> link.client.receive(report("/")))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("not agreed");
        assertThat(link.client.isClosed()).isTrue();
    }

    @Test
    void onlyServersSendReports() throws Exception {
        Link link = link(Capabilities.ROUTE_LOG);
        assertThatThrownBy(() -> link.client.offerRouteLog(report("/"))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> link.server.receive(report("/")))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("ROUTE_LOG sent to a server");
    }

    @Test
    void aDetachedSessionDropsReports() throws Exception {
        Link link = link(Capabilities.ROUTE_LOG);
        link.drop();
        assertThat(link.server.offerRouteLog(report("/"))).isEqualTo(Session.Offer.AWAY);
    }

    @Test
    void aBusyOutboundPathDropsReports() throws Exception {
        // a resend buffer of 256 KiB: half of it unacknowledged makes the path busy
        Limits small = new Limits(
                64 * 1024, 255, 1024, 128, 1024, 1024 * 1024, 1024 * 1024, 256 * 1024, Duration.ofMinutes(2));
        Link link = new Link(Limits.defaults(), small, agent, exit, System::nanoTime, Capabilities.ROUTE_LOG).connect();
        Recorder handler = new Recorder();
        Stream s = link.server.open("web", 0, handler);
        deliverAll(link);
        assertThat(handler.events).contains("accepted " + s.id());
        assertThat(link.server.offerRouteLog(report("/before"))).isEqualTo(Session.Offer.SENT);
        s.write(ByteBuffer.wrap(new byte[200 * 1024])); // not delivered: nothing is acknowledged
        assertThat(link.server.offerRouteLog(report("/during"))).isEqualTo(Session.Offer.BUSY);
        deliverAll(link);
        link.client.flushAck();
        deliverAll(link);
        assertThat(link.server.offerRouteLog(report("/after"))).isEqualTo(Session.Offer.SENT);
        deliverAll(link);
        assertThat(agent.reports).extracting(Frame.RouteLog::path).containsExactly("/before", "/after");
    }

    // ------------------------------------------------------------------ batches (ROUTE_LOGS)

    private static final int BATCHED = Capabilities.EXPOSE | Capabilities.ROUTE_LOG | Capabilities.ROUTE_LOG_BATCH;

    @Test
    void anAgreedBatchReachesTheAgentReportByReportInOrder() throws Exception {
        Link link = link(BATCHED);
        List<Frame.RouteLog> reports = new ArrayList<>();
        for (int i = 0; i < Frame.RouteLogs.MAX_REPORTS; i++) {
            reports.add(report("/r" + i));
        }
        int before = link.sentByServer.size();
        assertThat(link.server.offerRouteLogs(new Frame.RouteLogs(reports))).isEqualTo(Session.Offer.SENT);
        assertThat(link.sentByServer).hasSize(before + 1); // one frame for all of them
        deliverAll(link);
        assertThat(agent.reports).isEqualTo(reports);
        assertThat(link.server.lastSentSeq()).isZero();
    }

    @Test
    void aBatchNeedsBothCapabilities() throws Exception {
        Link link = link(Capabilities.EXPOSE | Capabilities.ROUTE_LOG);
        Frame.RouteLogs batch = new Frame.RouteLogs(List.of(report("/")));
        assertThat(link.server.offerRouteLogs(batch)).isEqualTo(Session.Offer.NOT_AGREED);
        assertThat(link.server.offerRouteLog(report("/single"))).isEqualTo(Session.Offer.SENT);
        assertThatThrownBy(() -> link.client.receive(batch))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("ROUTE_LOGS received but the capability was not agreed");
        assertThat(link.client.isClosed()).isTrue();
    }

    @Test
    void onlyServersSendBatches() throws Exception {
        Link link = link(BATCHED);
        Frame.RouteLogs batch = new Frame.RouteLogs(List.of(report("/")));
        assertThatThrownBy(() -> link.client.offerRouteLogs(batch)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> link.server.receive(batch))
                .isInstanceOf(ProtocolException.class)
                .hasMessageContaining("ROUTE_LOGS sent to a server");
    }

    @Test
    void encoderRefusesAnEmptyOrOversizedBatch() {
        assertThatThrownBy(() -> codec.encode(new Frame.RouteLogs(List.of())))
                .isInstanceOf(IllegalArgumentException.class);
        List<Frame.RouteLog> many = new ArrayList<>();
        for (int i = 0; i <= Frame.RouteLogs.MAX_REPORTS; i++) {
            many.add(report("/"));
        }
        assertThatThrownBy(() -> codec.encode(new Frame.RouteLogs(many)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("65 reports");
        assertThatThrownBy(() -> codec.encode(new Frame.RouteLogs(List.of(report("no-slash")))))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /** A ROUTE_LOGS frame claiming {@code count} reports around the given report bodies. */
    private static byte[] rawBatch(int count, byte[]... reportBodies) {
        int body = 2;
        for (byte[] b : reportBodies) {
            body += b.length;
        }
        ByteBuffer b = ByteBuffer.allocate(20 + body);
        b.put((byte) 2)
                .put((byte) 0x23)
                .putShort((short) 0)
                .putInt(0)
                .putLong(0)
                .putInt(body);
        b.putShort((short) count);
        for (byte[] r : reportBodies) {
            b.put(r);
        }
        return b.array();
    }

    /** The body of one report as ROUTE_LOG carries it. */
    private static byte[] reportBody(int status, String path) {
        byte[] frame = raw(1, status, "web", "GET", path.getBytes(StandardCharsets.UTF_8));
        return java.util.Arrays.copyOfRange(frame, 20, frame.length);
    }

    @Test
    void decoderReadsAHandWrittenBatchAndRefusesMalformedOnes() throws Exception {
        byte[] one = reportBody(200, "/one");
        byte[] two = reportBody(404, "/two");
        Frame f = codec.decodeMessage(ByteBuffer.wrap(rawBatch(2, one, two)));
        assertThat(((Frame.RouteLogs) f).reports())
                .extracting(Frame.RouteLog::path, Frame.RouteLog::status)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("/one", 200),
                        org.assertj.core.groups.Tuple.tuple("/two", 404));
        assertRejected(rawBatch(0, one)).hasMessageContaining("0 reports");
        byte[][] many = new byte[Frame.RouteLogs.MAX_REPORTS + 1][];
        java.util.Arrays.fill(many, one);
        assertRejected(rawBatch(Frame.RouteLogs.MAX_REPORTS + 1, many)).hasMessageContaining("65 reports");
        assertRejected(rawBatch(3, one, two)).hasMessageContaining("truncated");
        assertRejected(rawBatch(1, one, two)); // bytes after the last report
        assertRejected(rawBatch(2, one, reportBody(42, "/bad"))).hasMessageContaining("status 42");
    }
}
