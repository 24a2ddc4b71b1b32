package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** A route or host name held for an identity until it expires. */
@Entity
@Table(name = "name_leases")
public class NameLeaseEntity extends PanacheEntityBase {
    @Id
    public String name;

    public String identity;

    @Column(name = "owner_replica")
    public String ownerReplica;

    @Column(name = "expires_at")
    public Instant expiresAt;
}
