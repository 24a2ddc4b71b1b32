package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** A public port held for an identity until it expires. */
@Entity
@Table(name = "port_leases")
public class PortLeaseEntity extends PanacheEntityBase {
    @Id
    public Integer port;

    public String identity;

    @Column(name = "owner_replica")
    public String ownerReplica;

    @Column(name = "expires_at")
    public Instant expiresAt;
}
