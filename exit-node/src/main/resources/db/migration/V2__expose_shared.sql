-- Expose state shared by the replicas (splitstream.exit.registry=postgres). A public port is leased to an identity
-- (token id, agent name, service name): one lease per port (the primary key) and one per identity (the unique index
-- below), so a port is granted in one place, the database, whichever replica asks. expires_at is NULL while the holder
-- is connected; the countdown starts when it disconnects, or when its owner replica stops heart-beating.
ALTER TABLE port_leases ALTER COLUMN expires_at DROP NOT NULL;
ALTER TABLE port_leases ADD COLUMN token_id varchar(128);
ALTER TABLE port_leases ADD COLUMN agent varchar(128);
ALTER TABLE port_leases ADD COLUMN service varchar(128);
UPDATE port_leases SET token_id = split_part(identity, '/', 1), agent = split_part(identity, '/', 2),
    service = split_part(identity, '/', 3);
ALTER TABLE port_leases ALTER COLUMN token_id SET NOT NULL;
ALTER TABLE port_leases ALTER COLUMN agent SET NOT NULL;
ALTER TABLE port_leases ALTER COLUMN service SET NOT NULL;
CREATE UNIQUE INDEX port_leases_identity ON port_leases (token_id, agent, service);

-- An agent's route token, as its SHA-256 digest (never the token), so that every replica routes /_token/<t>/.
ALTER TABLE agents ADD COLUMN route_digest varchar(64);
