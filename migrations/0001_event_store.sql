-- The ledger: one stream per state, events appended with optimistic concurrency.

CREATE TABLE streams (
  stream_id       text PRIMARY KEY,
  -- Compare-and-set target: an append moves it from the expected version to the new one.
  version         bigint NOT NULL CHECK (version > 0),
  -- The decider's state folded up to `version`, written in the same transaction as the events,
  -- so a command never refolds a long stream. snapshot_schema says which code shape wrote it.
  snapshot        jsonb NOT NULL,
  snapshot_schema integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Lets async readers see only transactions older than every running one (no gaps behind a checkpoint).
  transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream_id       text NOT NULL REFERENCES streams (stream_id),
  stream_version  bigint NOT NULL CHECK (stream_version > 0),
  type            text NOT NULL,
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL,
  recorded_at     timestamptz NOT NULL,
  -- sha256(previous event's hash || canonical bytes of this event), chained per stream: tamper evidence.
  hash            text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order ON events (transaction_id, global_position);
CREATE INDEX events_stream_time ON events (stream_id, recorded_at);

-- Events are never changed: refuse UPDATE, DELETE and TRUNCATE in the database itself.
CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is refused', TG_OP
    USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER events_refuse_change BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();
