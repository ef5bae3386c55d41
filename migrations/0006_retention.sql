-- Retention (issue 9 item 4): pinned and pruned versions in the version history, and the guard
-- rows that keep a blob deletion from racing a push of the same bytes.

-- Projected from VersionPinned / VersionUnpinned / VersionPruned (src/projections/read-model.ts).
ALTER TABLE state_versions
  ADD COLUMN pinned_at timestamptz,
  ADD COLUMN pinned_by text,
  ADD COLUMN pinned_reason text,
  ADD COLUMN pruned_at timestamptz,
  ADD COLUMN pruned_policy text;

-- "Does a kept version (of any state) still refer to this blob?": asked for every deletion.
CREATE INDEX state_versions_kept_blob_key ON state_versions (blob_key) WHERE pruned_at IS NULL;

-- One row per content key a writer has claimed (src/storage/blobs/blob-guards.ts). A writer
-- claims its key (pending + 1) in one autocommit statement before uploading; the append of the
-- event that refers to the key settles the claim (pending - 1, the trigger below, in the appending
-- statement itself). A deleter locks the row for the whole deletion, so a claim made meanwhile
-- waits until the object is gone and then uploads it again. claimed_until bounds a claim whose
-- writer never appended (a refused or failed push): past it the claim no longer protects the key.
CREATE TABLE blob_guards (
  key           text PRIMARY KEY,
  pending       integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
  claimed_until timestamptz NOT NULL
);

CREATE FUNCTION blob_guard_settle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE blob_guards SET pending = greatest(pending - 1, 0) WHERE key = NEW.data->>'blob_key';
  RETURN NULL;
END
$$;

CREATE TRIGGER events_settle_blob_claim AFTER INSERT ON events
  FOR EACH ROW WHEN (NEW.type IN ('StatePushed', 'StateRolledBack')) EXECUTE FUNCTION blob_guard_settle();
