-- Lock leases (LOCK_TTL): when the held lock may be taken over, renewed by its holder's writes.
ALTER TABLE state_locks ADD COLUMN lease_until timestamptz;

-- GET /locks lists the oldest first; metrics read the oldest lock's age.
CREATE INDEX state_locks_acquired_at ON state_locks (acquired_at);
