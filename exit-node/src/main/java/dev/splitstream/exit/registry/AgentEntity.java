package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** An exposing agent (soft-deleted: a name is unique among live agents). */
@Entity
@Table(name = "agents")
public class AgentEntity extends PanacheEntityBase {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    public Long id;

    public String name;

    @Column(name = "token_id")
    public String tokenId;

    @Column(name = "owner_replica")
    public String ownerReplica;

    @Column(name = "first_connected")
    public Instant firstConnected;

    @Column(name = "last_seen")
    public Instant lastSeen;

    @Column(name = "disconnected_at")
    public Instant disconnectedAt;

    @Column(name = "deleted_at")
    public Instant deletedAt;

    /** SHA-256 of the agent's route token (hex), never the token. */
    @Column(name = "route_digest")
    public String routeDigest;
}
