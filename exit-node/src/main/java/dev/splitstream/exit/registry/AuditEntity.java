package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;
import java.time.Instant;

/** One audit log row (see AuditEvent). */
@Entity
@Table(name = "audit_log")
public class AuditEntity extends PanacheEntityBase {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    public Long id;

    public Instant at;

    public String replica;

    public String kind;

    @Column(name = "session_id")
    public String sessionId;

    @Column(name = "token_id")
    public String tokenId;

    @Column(name = "remote_address")
    public String remoteAddress;

    public String transport;

    public String target;

    @Column(name = "bytes_up")
    public long bytesUp;

    @Column(name = "bytes_down")
    public long bytesDown;

    public String outcome;

    @Column(name = "duration_ms")
    public long durationMs;

    public String detail;
}
