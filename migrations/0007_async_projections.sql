-- Asynchronous projections (issue 10 items 1 and 2): their checkpoints, and the first of them, the
-- index of each state's current contents (src/projections/async/).

-- Where each asynchronous projection stands in commit order: the (transaction id, global position)
-- of the last event it applied. Written in the same transaction as the projection's rows, and
-- compare-and-set (the row is locked and checked before a batch is written), so a batch is applied
-- exactly once whoever runs it.
CREATE TABLE projection_checkpoints (
  name       text PRIMARY KEY,
  tx         xid8 NOT NULL DEFAULT '0',
  position   bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per state with a current version: how its body was indexed. status: indexed (contents
-- below), encrypted (no contents: the ledger cannot read them), unreadable (reason says why; the
-- body is not tried again until the state gets a new version).
CREATE TABLE state_contents (
  name           text PRIMARY KEY,
  version        integer NOT NULL,
  status         text NOT NULL CHECK (status IN ('indexed', 'encrypted', 'unreadable')),
  reason         text,
  resource_count integer,
  instance_count integer,
  output_count   integer,
  recorded_at    timestamptz NOT NULL
);

-- Every resource instance of each state's current version. ordinal: the instance's place in the
-- document (addresses of a hostile document need not be unique).
CREATE TABLE state_resource_instances (
  name             text NOT NULL,
  ordinal          integer NOT NULL,
  address          text NOT NULL,
  resource_address text NOT NULL,
  mode             text NOT NULL,
  type             text NOT NULL,
  resource_name    text NOT NULL,
  module           text NOT NULL,
  provider         text NOT NULL,
  index_key        jsonb,
  instance_id      text,
  PRIMARY KEY (name, ordinal)
);

-- Every root output of each state's current version: its name, type and whether it is sensitive
-- (never its value).
CREATE TABLE state_output_index (
  name      text NOT NULL,
  output    text NOT NULL,
  type      jsonb,
  sensitive boolean NOT NULL,
  PRIMARY KEY (name, output)
);

-- Instances counted in each version's body when the projection indexed it (the versions list joins
-- it; null there until then, and for encrypted or unreadable bodies).
CREATE TABLE state_version_instances (
  name           text NOT NULL,
  version        integer NOT NULL,
  instance_count integer NOT NULL,
  PRIMARY KEY (name, version)
);

-- Resource search (GET /resources): each filter is `=` or a prefix `LIKE 'start%'`, which a
-- text_pattern_ops btree serves whatever the database's collation; (name, ordinal), the primary
-- key, serves the state filter, the order and the keyset paging.
CREATE INDEX state_resource_instances_type ON state_resource_instances (type text_pattern_ops);
CREATE INDEX state_resource_instances_address ON state_resource_instances (address text_pattern_ops);
CREATE INDEX state_resource_instances_resource_address ON state_resource_instances (resource_address);
CREATE INDEX state_resource_instances_instance_id ON state_resource_instances (instance_id text_pattern_ops);
CREATE INDEX state_resource_instances_provider ON state_resource_instances (provider text_pattern_ops);
CREATE INDEX state_resource_instances_module ON state_resource_instances (module text_pattern_ops);
