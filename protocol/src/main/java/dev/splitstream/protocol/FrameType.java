package dev.splitstream.protocol;

/** Numeric frame type codes, as written on the wire. Codes are never reused. */
public enum FrameType {
    HELLO(0x01),
    CHALLENGE(0x02),
    PROOF(0x03),
    WELCOME(0x04),
    OPEN(0x10),
    ACCEPT(0x11),
    DATA(0x12),
    WINDOW_UPDATE(0x13),
    ACK(0x14),
    RESET(0x15),
    PING(0x16),
    PONG(0x17),
    CLOSE(0x18);

    /** Wire code. */
    public final int code;

    FrameType(int code) {
        this.code = code;
    }
}
