package dev.splitstream.exit.registry;

import io.quarkus.hibernate.orm.panache.PanacheEntityBase;
import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/** A service an agent exposes (tcp or http). */
@Entity
@Table(name = "services")
public class ServiceEntity extends PanacheEntityBase {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    public Long id;

    @Column(name = "agent_id")
    public Long agentId;

    public String name;

    public String kind;

    public String target;

    @Column(name = "public_port")
    public Integer publicPort;
}
