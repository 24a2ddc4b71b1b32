-- name_leases was never read or written: an agent's name is held by its live row in agents (the partial unique index
-- agents_live_name), which stays while the agent is away and is soft-deleted when it is released or forgotten after
-- splitstream.exit.lease. No schema that nothing reads.
DROP TABLE name_leases;
