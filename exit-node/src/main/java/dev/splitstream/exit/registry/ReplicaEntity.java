package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** A replica (one start of an exit node) and its heartbeat. */
@Entity
@Table(name = "replicas")
public class ReplicaEntity extends PanacheEntityBase {
    @Id
    public String id;

    public String url;

    @Column(name = "started_at")
    public Instant startedAt;

    public Instant heartbeat;

    @Column(name = "stopped_at")
    public Instant stoppedAt;
}
