package dev.splitstream.operator.reconciler;

import static dev.splitstream.operator.reconciler.Conditions.*;

import dev.splitstream.operator.crd.v1alpha1.Tunnel;
import dev.splitstream.operator.crd.v1alpha1.TunnelStatus;
import dev.splitstream.operator.dependent.ClusterSecretDependent;
import dev.splitstream.operator.dependent.CredentialsSecretDependent;
import dev.splitstream.operator.dependent.DownstreamIngressDependent;
import dev.splitstream.operator.dependent.EntryConfigDependent;
import dev.splitstream.operator.dependent.EntryDeploymentDependent;
import dev.splitstream.operator.dependent.EntryServiceDependent;
import dev.splitstream.operator.dependent.ExitDeploymentDependent;
import dev.splitstream.operator.dependent.ExitPeersServiceDependent;
import dev.splitstream.operator.dependent.ExitPortsServiceDependent;
import dev.splitstream.operator.dependent.ExitServiceDependent;
import dev.splitstream.operator.dependent.HubTokenSecretDependent;
import dev.splitstream.operator.dependent.RouteTokenSecretDependent;
import dev.splitstream.operator.dependent.RoutesIngressDependent;
import dev.splitstream.operator.dependent.Secondary;
import dev.splitstream.operator.dependent.UpstreamIngressDependent;
import dev.splitstream.operator.model.Credentials;
import dev.splitstream.operator.model.Endpoints;
import dev.splitstream.operator.model.EntryModel;
import dev.splitstream.operator.model.ExitModel;
import dev.splitstream.operator.model.ExposeModel;
import dev.splitstream.operator.model.IngressModel;
import dev.splitstream.operator.model.SpecDefaults;
import dev.splitstream.operator.model.SpecValidator;
import dev.splitstream.operator.model.TunnelResources;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Turns a Tunnel into its credentials, exit Deployment and Service, Ingresses and entry configuration. The workflow
 * is invoked explicitly: an invalid spec is reported (condition and Event) and changes nothing that runs.
 */
@Workflow(
        explicitInvocation = true,
        dependents = {
            @Dependent(name = CredentialsSecretDependent.NAME, type = CredentialsSecretDependent.class),
            @Dependent(
                    name = ExitDeploymentDependent.NAME,
                    type = ExitDeploymentDependent.class,
                    dependsOn = CredentialsSecretDependent.NAME),
            @Dependent(name = ExitServiceDependent.NAME, type = ExitServiceDependent.class),
            @Dependent(
                    name = UpstreamIngressDependent.NAME,
                    type = UpstreamIngressDependent.class,
                    reconcilePrecondition = UpstreamIngressDependent.HasDomain.class,
                    dependsOn = ExitServiceDependent.NAME),
            @Dependent(
                    name = DownstreamIngressDependent.NAME,
                    type = DownstreamIngressDependent.class,
                    reconcilePrecondition = DownstreamIngressDependent.IsSplit.class,
                    dependsOn = ExitServiceDependent.NAME),
            @Dependent(
                    name = EntryConfigDependent.NAME,
                    type = EntryConfigDependent.class,
                    dependsOn = CredentialsSecretDependent.NAME),
            @Dependent(
                    name = EntryDeploymentDependent.NAME,
                    type = EntryDeploymentDependent.class,
                    reconcilePrecondition = EntryDeploymentDependent.NotSidecarOnly.class,
                    dependsOn = EntryConfigDependent.NAME),
            @Dependent(
                    name = EntryServiceDependent.NAME,
                    type = EntryServiceDependent.class,
                    reconcilePrecondition = EntryServiceDependent.HasPorts.class),
            // The generated expose and registry Secrets are read by the pods through secretKeyRef and by the entry
            // configuration once they exist; nothing depends on them, since a dependent of a resource whose
            // precondition fails would be deleted with it.
            @Dependent(
                    name = RouteTokenSecretDependent.NAME,
                    type = RouteTokenSecretDependent.class,
                    reconcilePrecondition = RouteTokenSecretDependent.HasRouteToken.class),
            @Dependent(
                    name = HubTokenSecretDependent.NAME,
                    type = HubTokenSecretDependent.class,
                    reconcilePrecondition = HubTokenSecretDependent.HubOn.class),
            @Dependent(
                    name = ClusterSecretDependent.NAME,
                    type = ClusterSecretDependent.class,
                    reconcilePrecondition = ClusterSecretDependent.UsesRegistry.class),
            @Dependent(
                    name = ExitPortsServiceDependent.NAME,
                    type = ExitPortsServiceDependent.class,
                    reconcilePrecondition = ExitPortsServiceDependent.HasPublicPorts.class),
            @Dependent(
                    name = ExitPeersServiceDependent.NAME,
                    type = ExitPeersServiceDependent.class,
                    reconcilePrecondition = ExitPeersServiceDependent.UsesRegistry.class),
            @Dependent(
                    name = RoutesIngressDependent.NAME,
                    type = RoutesIngressDependent.class,
                    reconcilePrecondition = RoutesIngressDependent.HasHostRoutes.class,
                    dependsOn = ExitServiceDependent.NAME)
        })
// Not generation-aware: the rotate-token annotation changes metadata only, which does not bump the generation.
@ControllerConfiguration(name = "tunnel", generationAwareEventProcessing = false)
public class TunnelReconciler implements Reconciler<Tunnel> {
    private static final Logger LOG = Logger.getLogger(TunnelReconciler.class);

    @ConfigProperty(name = "splitstream.operator.not-ready-requeue", defaultValue = "10s")
    Duration notReadyRequeue;

    @Override
    public UpdateControl<Tunnel> reconcile(Tunnel tunnel, Context<Tunnel> context) {
        TunnelStatus previous = tunnel.getStatus() == null ? new TunnelStatus() : tunnel.getStatus();
        Instant now = Instant.now();
        Long generation = tunnel.getMetadata().getGeneration();
        Conditions conditions = new Conditions(previous.conditions, generation, now);
        TunnelStatus status = new TunnelStatus();
        status.observedGeneration = generation;

        // The workflow's dependents see this same instance, so they get the defaults too.
        SpecDefaults.apply(tunnel);
        List<String> problems = SpecValidator.validate(tunnel);
        if (!problems.isEmpty()) {
            String message = "invalid spec, nothing changed until it is fixed: " + String.join("; ", problems);
            conditions.set(READY, false, "InvalidSpec", message);
            PARTS.forEach(conditions::keep);
            boolean reported = find(previous.conditions, READY)
                    .map(c -> "InvalidSpec".equals(c.getReason()) && message.equals(c.getMessage()))
                    .orElse(false);
            if (!reported) {
                LOG.warnf("tunnel %s/%s: %s", tunnel.getMetadata().getNamespace(), name(tunnel), message);
                EventRecorder.record(context.getClient(), tunnel, EventRecorder.WARNING, "InvalidSpec", message);
            }
            status.upstreamUrl = previous.upstreamUrl;
            status.downstreamUrl = previous.downstreamUrl;
            status.registry = previous.registry;
            status.publicPorts = previous.publicPorts;
            status.publicAddress = previous.publicAddress;
            status.tokenId = previous.tokenId;
            status.retiringTokenId = previous.retiringTokenId;
            status.retiringTokenExpiresAt = previous.retiringTokenExpiresAt;
            status.conditions = conditions.toList();
            return finish(tunnel, previous, status, Optional.empty());
        }

        context.managedWorkflowAndDependentResourceContext()
                .reconcileManagedWorkflow()
                .throwAggregateExceptionIfErrorsPresent();

        Optional<Secret> credentials =
                Secondary.named(context, Secret.class, TunnelResources.credentialsSecretName(tunnel));
        Optional<Duration> rotationCheck = Optional.empty();
        if (credentials.isPresent() && tunnel.getSpec().token.existingSecret == null) {
            TokenRotation.Outcome outcome = TokenRotation.apply(tunnel, credentials.get(), now, context.getClient());
            credentials = Optional.of(outcome.secret());
            rotationCheck = outcome.recheckIn();
        }

        Endpoints endpoints = Endpoints.of(tunnel);
        status.upstreamUrl = endpoints.upstreamUrl();
        status.downstreamUrl = endpoints.downstreamUrl();
        status.registry = ExitModel.registry(tunnel.getSpec());
        publicPorts(tunnel, context, status);
        secrets(tunnel, context, credentials, conditions, status);
        exit(tunnel, context, conditions);
        ingress(tunnel, context, endpoints, conditions);
        entry(tunnel, context, conditions);
        List<String> notReady =
                PARTS.stream().filter(type -> !conditions.isTrue(type)).toList();
        if (notReady.isEmpty()) {
            conditions.set(
                    READY,
                    true,
                    "AllReady",
                    "tunnel reachable at " + endpoints.upstreamUrl()
                            + (endpoints.split()
                                    ? " (upstream) and " + endpoints.downstreamUrl() + " (downstream)"
                                    : ""));
        } else {
            String first = notReady.get(0);
            conditions.set(
                    READY,
                    false,
                    first.replace("Ready", "NotReady"),
                    "waiting for " + String.join(", ", notReady) + ": "
                            + conditions.get(first).map(c -> c.getMessage()).orElse(""));
        }
        status.conditions = conditions.toList();

        Optional<Duration> requeue = notReady.isEmpty() ? Optional.empty() : Optional.of(notReadyRequeue);
        if (rotationCheck.isPresent()) {
            Duration check = rotationCheck.get().plusSeconds(1);
            requeue = Optional.of(requeue.filter(r -> r.compareTo(check) < 0).orElse(check));
        }
        return finish(tunnel, previous, status, requeue);
    }

    @Override
    public ErrorStatusUpdateControl<Tunnel> updateErrorStatus(Tunnel tunnel, Context<Tunnel> context, Exception e) {
        TunnelStatus previous = tunnel.getStatus() == null ? new TunnelStatus() : tunnel.getStatus();
        Conditions conditions =
                new Conditions(previous.conditions, tunnel.getMetadata().getGeneration(), Instant.now());
        String message = "reconciliation failed (retrying): " + e.getMessage();
        conditions.set(READY, false, "ReconcileFailed", message);
        PARTS.forEach(conditions::keep);
        TunnelStatus status = copyOf(previous);
        status.conditions = conditions.toList();
        if (status.equals(previous)) {
            return ErrorStatusUpdateControl.defaultErrorProcessing();
        }
        tunnel.setStatus(status);
        return ErrorStatusUpdateControl.patchStatus(tunnel);
    }

    private UpdateControl<Tunnel> finish(
            Tunnel tunnel, TunnelStatus previous, TunnelStatus status, Optional<Duration> requeue) {
        UpdateControl<Tunnel> control;
        if (status.equals(previous)) {
            control = UpdateControl.noUpdate();
        } else {
            tunnel.setStatus(status);
            control = UpdateControl.patchStatus(tunnel);
        }
        requeue.ifPresent(control::rescheduleAfter);
        return control;
    }

    private void secrets(
            Tunnel tunnel,
            Context<Tunnel> context,
            Optional<Secret> credentials,
            Conditions conditions,
            TunnelStatus status) {
        String credentialsName = TunnelResources.credentialsSecretName(tunnel);
        if (credentials.isEmpty()) {
            conditions.set(SECRETS_READY, false, "SecretPending", "Secret " + credentialsName + " not created yet");
            return;
        }
        boolean entryConfig = Secondary.named(context, Secret.class, TunnelResources.entryConfigSecretName(tunnel))
                .isPresent();
        String existing = tunnel.getSpec().token.existingSecret;
        if (existing != null) {
            status.tokenId = tunnel.getSpec().token.id;
            Secret secret = context.getClient()
                    .secrets()
                    .inNamespace(tunnel.getMetadata().getNamespace())
                    .withName(existing)
                    .get();
            String key = tunnel.getSpec().token.existingSecretKey;
            if (secret == null) {
                conditions.set(
                        SECRETS_READY,
                        false,
                        "ExistingSecretNotFound",
                        "Secret " + existing
                                + " (spec.token.existingSecret) not found in namespace "
                                + tunnel.getMetadata().getNamespace() + ": create it with the token under key '" + key
                                + "'");
                return;
            }
            if (!Credentials.decode(secret).containsKey(key)) {
                conditions.set(
                        SECRETS_READY,
                        false,
                        "ExistingSecretKeyMissing",
                        "Secret " + existing + " has no key '" + key + "': add it or set spec.token.existingSecretKey");
                return;
            }
        } else {
            var values = Credentials.decode(credentials.get());
            status.tokenId = values.get(TunnelResources.KEY_TOKEN_ID);
            var annotations = credentials.get().getMetadata().getAnnotations();
            if (annotations != null) {
                status.retiringTokenId = annotations.get(TunnelResources.ANNOTATION_RETIRING_TOKEN_ID);
                status.retiringTokenExpiresAt = annotations.get(TunnelResources.ANNOTATION_RETIRING_EXPIRES);
            }
        }
        var spec = tunnel.getSpec();
        if (spec.registry != null
                && !referencedSecret(
                        tunnel,
                        context,
                        "spec.registry",
                        spec.registry.secretName,
                        List.of(spec.registry.jdbcUrlKey, spec.registry.usernameKey, spec.registry.passwordKey),
                        conditions)) {
            return;
        }
        if (spec.exit.dashboard != null
                && !referencedSecret(
                        tunnel,
                        context,
                        "spec.exit.dashboard",
                        spec.exit.dashboard.secretName,
                        List.of(spec.exit.dashboard.userKey, spec.exit.dashboard.passwordKey),
                        conditions)) {
            return;
        }
        if (!entryConfig) {
            conditions.set(
                    SECRETS_READY,
                    false,
                    "SecretPending",
                    "Secret " + TunnelResources.entryConfigSecretName(tunnel) + " not created yet");
            return;
        }
        conditions.set(
                SECRETS_READY,
                true,
                existing != null ? "ExistingSecretFound" : "SecretsCreated",
                (existing != null
                                ? "token from Secret " + existing
                                : "token " + status.tokenId + " in Secret " + credentialsName)
                        + "; entry configuration in Secret " + TunnelResources.entryConfigSecretName(tunnel)
                        + (status.retiringTokenId == null
                                ? ""
                                : "; previous token " + status.retiringTokenId + " accepted until "
                                        + status.retiringTokenExpiresAt));
    }

    /**
     * Whether a Secret the spec refers to exists with the keys the pods read; if not, SecretsReady says which and how
     * to fix it (the pods would otherwise wait in CreateContainerConfigError).
     */
    private static boolean referencedSecret(
            Tunnel tunnel,
            Context<Tunnel> context,
            String field,
            String name,
            List<String> keys,
            Conditions conditions) {
        String namespace = tunnel.getMetadata().getNamespace();
        Secret secret = context.getClient()
                .secrets()
                .inNamespace(namespace)
                .withName(name)
                .get();
        if (secret == null) {
            conditions.set(
                    SECRETS_READY,
                    false,
                    "SecretNotFound",
                    "Secret " + name + " (" + field + ".secretName) not found in namespace " + namespace
                            + ": create it with the keys " + String.join(", ", keys));
            return false;
        }
        var values = Credentials.decode(secret);
        List<String> missing = keys.stream().filter(k -> !values.containsKey(k)).toList();
        if (!missing.isEmpty()) {
            conditions.set(
                    SECRETS_READY,
                    false,
                    "SecretKeyMissing",
                    "Secret " + name + " (" + field + ".secretName) has no key " + String.join(", ", missing)
                            + ": add it, or name the key in " + field);
            return false;
        }
        return true;
    }

    /** Expose mode: the public port range and the address its Service got from the cluster, if any yet. */
    private static void publicPorts(Tunnel tunnel, Context<Tunnel> context, TunnelStatus status) {
        if (!ExposeModel.hasPublicPorts(tunnel)) {
            return;
        }
        status.publicPorts = ExposeModel.publicPortRange(tunnel.getSpec().expose.publicPorts);
        status.publicAddress = Secondary.named(context, Service.class, TunnelResources.exitPortsServiceName(tunnel))
                .map(Service::getStatus)
                .map(s -> s.getLoadBalancer())
                .map(lb -> lb.getIngress())
                .flatMap(ingresses -> ingresses.stream()
                        .map(i -> i.getHostname() != null ? i.getHostname() : i.getIp())
                        .filter(a -> a != null)
                        .findFirst())
                .orElse(null);
    }

    private void exit(Tunnel tunnel, Context<Tunnel> context, Conditions conditions) {
        deploymentCondition(
                Secondary.named(context, Deployment.class, TunnelResources.exitName(tunnel)),
                TunnelResources.exitName(tunnel),
                tunnel.getSpec().exit.replicas,
                EXIT_READY,
                conditions);
    }

    private void entry(Tunnel tunnel, Context<Tunnel> context, Conditions conditions) {
        if (!EntryModel.hasDeployment(tunnel)) {
            conditions.set(
                    ENTRY_READY,
                    true,
                    "SidecarOnly",
                    "no entry Deployment; sidecars load Secret " + TunnelResources.entryConfigSecretName(tunnel));
            return;
        }
        if (tunnel.getSpec().entry.replicas == 0) {
            conditions.set(
                    ENTRY_READY,
                    true,
                    "ScaledToZero",
                    "entry Deployment " + TunnelResources.entryName(tunnel) + " has 0 replicas");
            return;
        }
        deploymentCondition(
                Secondary.named(context, Deployment.class, TunnelResources.entryName(tunnel)),
                TunnelResources.entryName(tunnel),
                tunnel.getSpec().entry.replicas,
                ENTRY_READY,
                conditions);
    }

    private static void deploymentCondition(
            Optional<Deployment> deployment, String name, int wanted, String type, Conditions conditions) {
        if (deployment.isEmpty()) {
            conditions.set(type, false, "DeploymentPending", "Deployment " + name + " not created yet");
            return;
        }
        if (wanted == 0) {
            conditions.set(type, false, "ScaledToZero", "Deployment " + name + " has 0 replicas: nothing serves");
            return;
        }
        var status = deployment.get().getStatus();
        int ready = status == null || status.getReadyReplicas() == null ? 0 : status.getReadyReplicas();
        String counts = ready + "/" + wanted + " replicas of Deployment " + name + " ready";
        if (ready >= wanted) {
            conditions.set(type, true, "DeploymentReady", counts);
        } else {
            conditions.set(
                    type,
                    false,
                    "DeploymentNotReady",
                    counts + "; see `kubectl describe deployment " + name + "` and its pods' events");
        }
    }

    private void ingress(Tunnel tunnel, Context<Tunnel> context, Endpoints endpoints, Conditions conditions) {
        boolean routes = ExposeModel.hasHostRoutes(tunnel);
        if (!IngressModel.hasUpstream(tunnel) && !routes) {
            conditions.set(
                    INGRESS_READY,
                    true,
                    "NoDomains",
                    "no domains: reachable in the cluster at " + endpoints.upstreamUrl());
            return;
        }
        List<String> missing = new ArrayList<>();
        List<String> addresses = new ArrayList<>();
        if (IngressModel.hasUpstream(tunnel)) {
            check(
                    context,
                    UpstreamIngressDependent.NAME,
                    TunnelResources.upstreamIngressName(tunnel),
                    missing,
                    addresses);
        }
        if (routes) {
            check(context, RoutesIngressDependent.NAME, TunnelResources.routesIngressName(tunnel), missing, addresses);
        }
        if (IngressModel.hasDownstream(tunnel)) {
            check(
                    context,
                    DownstreamIngressDependent.NAME,
                    TunnelResources.downstreamIngressName(tunnel),
                    missing,
                    addresses);
        }
        if (!missing.isEmpty()) {
            conditions.set(
                    INGRESS_READY,
                    false,
                    "IngressPending",
                    "Ingress " + String.join(", ", missing) + " not created yet");
        } else if (addresses.isEmpty()) {
            conditions.set(
                    INGRESS_READY,
                    true,
                    "IngressCreated",
                    "Ingress created for " + String.join(" and ", hosts(tunnel, endpoints))
                            + "; no load balancer address reported yet");
        } else {
            conditions.set(
                    INGRESS_READY,
                    true,
                    "IngressAddressAssigned",
                    "Ingress serving at " + String.join(", ", addresses));
        }
    }

    private static List<String> hosts(Tunnel tunnel, Endpoints endpoints) {
        List<String> hosts = new ArrayList<>();
        endpoints.upstreamHost().ifPresent(hosts::add);
        if (endpoints.split()) {
            endpoints.downstreamHost().ifPresent(hosts::add);
        }
        if (ExposeModel.hasHostRoutes(tunnel)) {
            hosts.add("*." + tunnel.getSpec().expose.httpDomain.trim());
        }
        return hosts;
    }

    private static void check(
            Context<Tunnel> context, String dependent, String name, List<String> missing, List<String> addresses) {
        Optional<Ingress> ingress = Secondary.named(context, Ingress.class, name);
        if (ingress.isEmpty()) {
            missing.add(name);
            return;
        }
        var status = ingress.get().getStatus();
        if (status != null
                && status.getLoadBalancer() != null
                && status.getLoadBalancer().getIngress() != null) {
            status.getLoadBalancer().getIngress().forEach(lb -> {
                String address = lb.getHostname() != null ? lb.getHostname() : lb.getIp();
                if (address != null) {
                    addresses.add(address);
                }
            });
        }
    }

    private static TunnelStatus copyOf(TunnelStatus previous) {
        TunnelStatus status = new TunnelStatus();
        status.observedGeneration = previous.observedGeneration;
        status.upstreamUrl = previous.upstreamUrl;
        status.downstreamUrl = previous.downstreamUrl;
        status.registry = previous.registry;
        status.publicPorts = previous.publicPorts;
        status.publicAddress = previous.publicAddress;
        status.tokenId = previous.tokenId;
        status.retiringTokenId = previous.retiringTokenId;
        status.retiringTokenExpiresAt = previous.retiringTokenExpiresAt;
        status.conditions = new ArrayList<>(previous.conditions);
        return status;
    }

    private static String name(Tunnel tunnel) {
        return tunnel.getMetadata().getName();
    }
}
