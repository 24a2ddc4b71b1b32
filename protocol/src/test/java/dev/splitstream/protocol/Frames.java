package dev.splitstream.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Sample frames of every type, for codec tests. */
final class Frames {
    private Frames() {}

    static byte[] bytes(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed + i * 31);
        }
        return b;
    }

    static List<Frame> everyType() {
        return List.of(
                new Frame.Hello(
                        1, 3, "tenant-ä", bytes(32, 1), 1_700_000_000_000L, Frame.Intent.NEW, new byte[0], 0, 1),
                new Frame.Hello(1, 1, "t", bytes(32, 2), -5, Frame.Intent.RESUME, bytes(16, 3), 77, 0),
                new Frame.Hello(1, 1, "", bytes(32, 2), 0, Frame.Intent.JOIN_UPSTREAM, bytes(16, 3), 0, -1),
                new Frame.Hello(1, 1, "x", bytes(32, 2), 0, Frame.Intent.JOIN_DOWNSTREAM, bytes(16, 3), 0, 0),
                new Frame.Challenge(1, bytes(32, 4), Capabilities.DEFLATE),
                new Frame.Proof(bytes(32, 5)),
                new Frame.Welcome(bytes(16, 6), 123456789012L, bytes(32, 7), 65536, 262144),
                new Frame.Open(1, 1, "db.internal.example", 5432, 262144),
                new Frame.Open(Integer.MAX_VALUE, Long.MAX_VALUE, "::1", 65535, Integer.MAX_VALUE),
                new Frame.Accept(2, 9, 1),
                new Frame.Data(3, 10, ByteBuffer.wrap("hello".getBytes(StandardCharsets.UTF_8)), false),
                new Frame.Data(3, 11, ByteBuffer.allocate(0), true),
                new Frame.Data(5, 12, ByteBuffer.wrap(bytes(65536, 8)), true),
                new Frame.WindowUpdate(7, 13, Integer.MAX_VALUE),
                new Frame.Ack(0),
                new Frame.Ack(Long.MAX_VALUE),
                new Frame.Reset(9, 14, ResetCode.NOT_ALLOWED, "target db:5432 is not in the allow-list"),
                new Frame.Reset(9, 15, ResetCode.SESSION_CLOSED, ""),
                new Frame.Ping(-1),
                new Frame.Pong(42),
                new Frame.Close(CloseCode.VERSION_MISMATCH, "upgrade the client \uD83D\uDE80"),
                new Frame.Close(CloseCode.GOING_AWAY, ""),
                new Frame.Expose(
                        "laptop-1",
                        false,
                        List.of(
                                new Frame.ExposedService("ssh", Frame.ServiceKind.TCP, 0, "127.0.0.1:22"),
                                new Frame.ExposedService("db", Frame.ServiceKind.TCP, 10022, "[::1]:5432"),
                                new Frame.ExposedService("web", Frame.ServiceKind.HTTP, 0, "http://127.0.0.1:8080"))),
                new Frame.Expose("a", true, List.of()),
                new Frame.ExposeResult(List.of(
                        new Frame.Grant("ssh", true, 10000, "tcp://exit.example:10000"),
                        new Frame.Grant("db", false, 0, "port 10022 is leased to another agent"))),
                new Frame.ExposeResult(List.of()),
                new Frame.RouteLog("web", Frame.RouteVia.TOKEN, "GET", "/index.html", 200, 3_100, 0, 1_234, 0),
                new Frame.RouteLog(
                        "a",
                        Frame.RouteVia.HUB,
                        "PROPFIND",
                        "/" + "\u00e9".repeat(127) + "x",
                        0,
                        Long.MAX_VALUE,
                        Long.MAX_VALUE,
                        0,
                        Frame.RouteLog.MAX_SKIPPED),
                new Frame.RouteLogs(List.of(
                        new Frame.RouteLog("web", Frame.RouteVia.TOKEN, "GET", "/a", 200, 900, 0, 1_024, 0),
                        new Frame.RouteLog("web", Frame.RouteVia.HOST, "POST", "/b", 0, 12, 5, 0, 7))));
    }
}
