-- A replica's flush watermark (database time): every session the replica opened before it is in sessions (or was
-- closed since). It is set in the same transaction as the session rows it covers, with the transaction's own now(),
-- before those rows are taken from the replica's queue. A hand-off look-up that finds no row for a session waits
-- until every live replica's watermark has passed the look-up's start, so a row written late is not taken for an
-- unknown session. NULL: a replica that has not flushed yet (or runs a version without watermarks).
ALTER TABLE replicas ADD COLUMN flushed_through timestamptz;
