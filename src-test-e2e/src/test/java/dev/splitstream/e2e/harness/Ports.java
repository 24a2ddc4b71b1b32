package dev.splitstream.e2e.harness;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Loopback ports for nodes to bind: picked below the kernel's ephemeral range (32768 and up here), where no outgoing
 * connection takes its source port, so a flood's client sockets cannot take a port between this pick and the node's
 * bind ("Address already in use" seen under load). The blocks {@code ExposeE2E} and {@code ReplicasE2E} reserve for
 * public ports lie lower (20000-29999) and are not handed out here.
 */
public final class Ports {
    private static final int LOW = 30000;
    private static final int HIGH = 32768;
    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

    private Ports() {}

    /** A loopback port that was free a moment ago and that this JVM has not handed out before. */
    public static int free() {
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(LOW, HIGH);
            if (HANDED_OUT.contains(port)) {
                continue;
            }
            try (ServerSocket socket = new ServerSocket()) {
                socket.setReuseAddress(true);
                socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                if (HANDED_OUT.add(port)) {
                    return port;
                }
            } catch (IOException taken) {
                // bound by someone else: another
            }
        }
        throw new IllegalStateException("no free loopback port in " + LOW + "-" + (HIGH - 1) + " after 200 attempts");
    }
}
