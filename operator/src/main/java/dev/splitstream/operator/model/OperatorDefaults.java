package dev.splitstream.operator.model;

/**
 * Operator-wide defaults the desired state depends on.
 *
 * @param exitImage image of the exit node when a Tunnel names none
 * @param entryImage image of the entry node when a Tunnel names none
 * @param imagePullPolicy pull policy when a Tunnel names none
 * @param sidecarManagementPort management port of injected entry sidecars (they share the pod's ports with the
 *     application, which may use 9000 itself)
 */
public record OperatorDefaults(String exitImage, String entryImage, String imagePullPolicy, int sidecarManagementPort) {
    public static final OperatorDefaults BUILT_IN = new OperatorDefaults(
            "splitstream/exit-node:0.1.0",
            "splitstream/entry-node:0.1.0",
            "IfNotPresent",
            TunnelResources.MANAGEMENT_PORT);
}
