package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** A public port held for an identity (token id, agent, service); no expiry while the holder is connected. */
@Entity
@Table(name = "port_leases")
public class PortLeaseEntity extends PanacheEntityBase {
    @Id
    public Integer port;

    public String identity;

    @Column(name = "token_id")
    public String tokenId;

    public String agent;

    public String service;

    @Column(name = "owner_replica")
    public String ownerReplica;

    @Column(name = "expires_at")
    public Instant expiresAt;
}
