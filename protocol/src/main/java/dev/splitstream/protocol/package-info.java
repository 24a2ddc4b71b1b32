/** The Splitstream wire protocol: frames, codec, handshake, sessions, multiplexing, flow control, resumption. */
package dev.splitstream.protocol;
