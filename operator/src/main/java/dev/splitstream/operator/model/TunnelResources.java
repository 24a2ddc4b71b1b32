package dev.splitstream.operator.model;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every name the operator derives from a Tunnel, in one place (as Strimzi's {@code KafkaBridgeResources}): resource
 * names, labels, annotation keys, Secret keys, ports and paths. Nothing else spells them.
 */
public final class TunnelResources {
    public static final String APP_NAME = "splitstream";
    public static final String MANAGED_BY = "splitstream-operator";

    public static final String COMPONENT_EXIT = "exit";
    public static final String COMPONENT_ENTRY = "entry";
    public static final String COMPONENT_CREDENTIALS = "credentials";
    public static final String COMPONENT_INGRESS = "ingress";

    public static final String LABEL_NAME = "app.kubernetes.io/name";
    public static final String LABEL_INSTANCE = "app.kubernetes.io/instance";
    public static final String LABEL_COMPONENT = "app.kubernetes.io/component";
    public static final String LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";

    /** Set on a Tunnel to any new value to rotate its generated token. */
    public static final String ANNOTATION_ROTATE_TOKEN = "splitstream.dev/rotate-token";
    /** On the credentials Secret: the rotate-token value the current token answers. */
    public static final String ANNOTATION_ROTATED_FOR = "splitstream.dev/rotated-for";
    /** On the credentials Secret: id of the previous token, still accepted. */
    public static final String ANNOTATION_RETIRING_TOKEN_ID = "splitstream.dev/retiring-token-id";
    /** On the credentials Secret: when the previous token stops being accepted (ISO-8601 instant). */
    public static final String ANNOTATION_RETIRING_EXPIRES = "splitstream.dev/retiring-token-expires";
    /** On the entry pod template: digest of the entry configuration, so a changed token rolls the pods. */
    public static final String ANNOTATION_CONFIG_DIGEST = "splitstream.dev/config-digest";

    public static final String KEY_TOKEN = "token";
    public static final String KEY_TOKEN_ID = "token-id";
    public static final String KEY_TOKENS_FILE = "tokens";
    /**
     * Prefix of the per-id token keys of the credentials Secret ({@code token.<id>}, one per accepted token): an entry
     * reads the file of the id it was started with, which stays in place through a rotation's grace period.
     */
    public static final String KEY_TOKEN_BY_ID_PREFIX = "token.";
    /** Key of the generated route, hub and cluster secrets. */
    public static final String KEY_GENERATED_TOKEN = "token";

    public static final int EXIT_PORT = 8080;
    /** The nodes' Quarkus management interface: health, metrics, the exit's dashboard. */
    public static final int MANAGEMENT_PORT = 9000;

    public static final String PORT_NAME = "http";
    public static final String MANAGEMENT_PORT_NAME = "management";
    public static final String HEALTH_LIVE_PATH = "/q/health/live";
    public static final String HEALTH_READY_PATH = "/q/health/ready";
    public static final String METRICS_PATH = "/q/metrics";
    public static final String WEBSOCKET_PATH = "/splitstream/v1/ws";
    public static final String TOKENS_MOUNT_PATH = "/etc/splitstream/tokens";
    public static final String TOKENS_FILE_PATH = TOKENS_MOUNT_PATH + "/" + KEY_TOKENS_FILE;
    /** Where a node's own token Secret is mounted (SPLITSTREAM_TOKEN_FILE points into it). */
    public static final String TOKEN_MOUNT_PATH = "/etc/splitstream/token";

    public static final String TMP_PATH = "/tmp";

    /**
     * Header every entry node connection carries, with a value fixed per session (both split legs, every reconnect):
     * the ingress hashes on it so they all reach the replica holding the session.
     */
    public static final String SESSION_HEADER = "X-Splitstream-Session";

    public static final String SESSION_HASH_KEY = "$http_x_splitstream_session";

    /** Label selectors of the operator's informers: only what it manages is cached, never every Secret. */
    public static final String SELECT_MANAGED = LABEL_MANAGED_BY + "=" + MANAGED_BY;

    public static final String SELECT_CREDENTIALS =
            SELECT_MANAGED + "," + LABEL_COMPONENT + "=" + COMPONENT_CREDENTIALS;
    public static final String SELECT_EXIT = SELECT_MANAGED + "," + LABEL_COMPONENT + "=" + COMPONENT_EXIT;
    public static final String SELECT_ENTRY = SELECT_MANAGED + "," + LABEL_COMPONENT + "=" + COMPONENT_ENTRY;
    public static final String SELECT_INGRESS = SELECT_MANAGED + "," + LABEL_COMPONENT + "=" + COMPONENT_INGRESS;

    /** The longest suffix appended to a Tunnel name; names must stay DNS labels (63 characters). */
    public static final int MAX_TUNNEL_NAME_LENGTH = 63 - "-downstream".length();

    private TunnelResources() {}

    public static String credentialsSecretName(Tunnel tunnel) {
        return credentialsSecretName(tunnel.getMetadata().getName());
    }

    public static String credentialsSecretName(String tunnelName) {
        return tunnelName + "-credentials";
    }

    public static String exitName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-exit";
    }

    /** The Service publishing the exit's public TCP ports (expose mode). */
    public static String exitPortsServiceName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-exit-ports";
    }

    /** The headless Service listing every exit replica (replicas with a PostgreSQL registry). */
    public static String exitPeersServiceName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-exit-peers";
    }

    /** The Ingress of the host routes {@code *.<httpDomain>} (expose mode). */
    public static String routesIngressName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-routes";
    }

    /** The generated route token of an agent's HTTP services (expose mode). */
    public static String routeTokenSecretName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-route-token";
    }

    /** The generated bearer token of the exit's Hub API (expose mode, hub on). */
    public static String hubTokenSecretName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-hub-token";
    }

    /** The generated secret authenticating replica-to-replica traffic (PostgreSQL registry). */
    public static String clusterSecretName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-cluster-secret";
    }

    /** The credentials Secret key holding the token with this id. */
    public static String tokenKey(String tokenId) {
        return KEY_TOKEN_BY_ID_PREFIX + tokenId;
    }

    public static String entryName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-entry";
    }

    /** The Secret holding the entry node's environment (SPLITSTREAM_ENTRY_*, SPLITSTREAM_TOKEN). */
    public static String entryConfigSecretName(Tunnel tunnel) {
        return entryConfigSecretName(tunnel.getMetadata().getName());
    }

    public static String entryConfigSecretName(String tunnelName) {
        return tunnelName + "-entry";
    }

    /** Pod label asking the sidecar webhook for an entry node of the named Tunnel (same namespace). */
    public static final String LABEL_INJECT_ENTRY = "splitstream.dev/inject-entry";

    public static final String SIDECAR_CONTAINER = "splitstream-entry";

    public static String upstreamIngressName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-upstream";
    }

    public static String downstreamIngressName(Tunnel tunnel) {
        return tunnel.getMetadata().getName() + "-downstream";
    }

    /** In-cluster DNS name of the exit Service. */
    public static String exitServiceHost(Tunnel tunnel) {
        return exitName(tunnel) + "." + tunnel.getMetadata().getNamespace() + ".svc";
    }

    public static Map<String, String> labels(Tunnel tunnel, String component) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(LABEL_NAME, APP_NAME);
        labels.put(LABEL_INSTANCE, tunnel.getMetadata().getName());
        labels.put(LABEL_COMPONENT, component);
        labels.put(LABEL_MANAGED_BY, MANAGED_BY);
        return labels;
    }

    /** Labels that select a component's pods; stable across upgrades (a Deployment selector is immutable). */
    public static Map<String, String> selector(Tunnel tunnel, String component) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(LABEL_NAME, APP_NAME);
        labels.put(LABEL_INSTANCE, tunnel.getMetadata().getName());
        labels.put(LABEL_COMPONENT, component);
        return labels;
    }

    /** The controller owner reference: deleting the Tunnel deletes what carries it. */
    public static OwnerReference ownerReference(Tunnel tunnel) {
        return new OwnerReferenceBuilder()
                .withApiVersion(tunnel.getApiVersion())
                .withKind(tunnel.getKind())
                .withName(tunnel.getMetadata().getName())
                .withUid(tunnel.getMetadata().getUid())
                .withController(true)
                .withBlockOwnerDeletion(true)
                .build();
    }
}
