package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** A session and the replica that owns it; never its key. */
@Entity
@Table(name = "sessions")
public class SessionEntity extends PanacheEntityBase {
    @Id
    public String id;

    @Column(name = "token_id")
    public String tokenId;

    @Column(name = "owner_replica")
    public String ownerReplica;

    public String transport;

    @Column(name = "remote_address")
    public String remoteAddress;

    @Column(name = "created_at")
    public Instant createdAt;

    @Column(name = "last_seen")
    public Instant lastSeen;
}
