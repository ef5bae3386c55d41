-- Runs (issue 10 item 5): the versions written under one lock, projected asynchronously by the
-- runs projection (src/projections/async/runs.ts), which reads each version's body to count the
-- resource instances a run added, changed and removed.

-- One row per run: the versions written under one lock (the row exists from the lock on; a lock
-- released with no version written leaves none), or one version pushed without a lock.
-- started_position: the global position of the event that began it (its StateLocked, or its only
-- version), the row's key. ended: how it ended, null while its lock is held; not-locked for a
-- version pushed without a lock. base_version: the current version before the run's first one
-- (null: there was none). added/changed/removed compare base_version with last_version, instance
-- by instance; null with changes_unknown saying why when either could not be read.
-- base_digests: while the run is open, each base instance's attributes digest by address.
CREATE TABLE state_runs (
  name              text NOT NULL,
  started_position  bigint NOT NULL,
  lock_id           text,
  operation         text,
  who               text,
  actor             text NOT NULL,
  started_at        timestamptz NOT NULL,
  ended_at          timestamptz,
  ended             text CHECK (ended IN ('unlocked', 'force-unlocked', 'lease-expired', 'not-locked')),
  base_version      integer,
  first_version     integer,
  last_version      integer,
  version_count     integer NOT NULL DEFAULT 0,
  added             integer,
  changed           integer,
  removed           integer,
  changes_unknown   text,
  base_digests      jsonb,
  PRIMARY KEY (name, started_position)
);

-- At most one open run per state (one lock at a time); the runs list pages by first version.
CREATE UNIQUE INDEX state_runs_open ON state_runs (name) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX state_runs_first_version ON state_runs (name, first_version) WHERE first_version IS NOT NULL;

-- The runs projection's view of each state's current version: its instances' attributes digests
-- by address (null when the body could not be read, with the reason), the next run's base.
CREATE TABLE state_run_heads (
  name     text PRIMARY KEY,
  version  integer,
  digests  jsonb,
  reason   text
);
