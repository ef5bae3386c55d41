-- Read models, maintained inline (same transaction as the events) and rebuildable by `replay`.

-- One row per state that ever had a body; version is null while the state is deleted.
CREATE TABLE state_heads (
  name              text PRIMARY KEY,
  version           integer,
  blob_key          text,
  sha256            text,
  md5               text,
  size              bigint,
  serial            bigint,
  lineage           text,
  terraform_version text,
  encrypted         boolean,
  updated_at        timestamptz NOT NULL,
  updated_by        text NOT NULL
);

-- The lock currently held, if any.
CREATE TABLE state_locks (
  name        text PRIMARY KEY,
  lock_id     text NOT NULL,
  info        jsonb NOT NULL,
  acquired_at timestamptz NOT NULL,
  acquired_by text NOT NULL
);

-- Every version ever pushed; never removed, deletes included.
CREATE TABLE state_versions (
  name              text NOT NULL,
  version           integer NOT NULL,
  blob_key          text NOT NULL,
  sha256            text NOT NULL,
  md5               text NOT NULL,
  size              bigint NOT NULL,
  serial            bigint NOT NULL,
  lineage           text NOT NULL,
  terraform_version text,
  encrypted         boolean NOT NULL,
  lock_id           text,
  -- Operation and Who of the lock held when the version was written.
  operation         text,
  who               text,
  -- The version a rollback restored, else null.
  restored_from     integer,
  resource_count    integer,
  output_count      integer,
  created_at        timestamptz NOT NULL,
  created_by        text NOT NULL,
  PRIMARY KEY (name, version)
);
