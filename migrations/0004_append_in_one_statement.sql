-- One statement per command: the compare-and-set, the events and the inline projections, in autocommit.

-- The shape an event's data was written in; readers upcast older shapes to the current one.
ALTER TABLE events ADD COLUMN schema_version smallint NOT NULL DEFAULT 1 CHECK (schema_version > 0);

-- Applies one row change of an inline projection. The projection names the table, its primary-key
-- columns and the row as JSON; jsonb_populate_record converts the values with the table's own types,
-- so the projections stay defined once, in TypeScript, and this function knows no read model.
CREATE FUNCTION ledger_apply_change(change jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  target text := change->>'table';
  keys text := (SELECT string_agg(format('%I', k), ', ') FROM jsonb_array_elements_text(change->'key_columns') AS k);
  columns text;
BEGIN
  CASE change->>'kind'
  WHEN 'upsert' THEN
    columns := (SELECT string_agg(format('%I', c), ', ') FROM jsonb_object_keys(change->'row') AS c);
    EXECUTE format(
      'INSERT INTO %I SELECT * FROM jsonb_populate_record(NULL::%I, $1) ON CONFLICT (%s) DO UPDATE SET (%s) = ROW(%s)',
      target, target, keys, columns,
      (SELECT string_agg(format('EXCLUDED.%I', c), ', ') FROM jsonb_object_keys(change->'row') AS c))
      USING change->'row';
  WHEN 'delete' THEN
    EXECUTE format('DELETE FROM %I WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1))', target, keys, keys, target)
      USING change->'key';
  WHEN 'update' THEN
    columns := (SELECT string_agg(format('%I', c), ', ') FROM jsonb_object_keys(change->'set') AS c);
    EXECUTE format(
      'UPDATE %I SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $2)) WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%I, $1))',
      target, columns, columns, target, keys, keys, target)
      USING change->'key', change->'set';
  ELSE
    RAISE EXCEPTION 'unknown row change kind %', change->>'kind';
  END CASE;
END
$$;

-- Appends events to a stream if it is still at expected_version with the expected last hash (a
-- snapshot cached before a failover or a restore may name a version the stream reached again by
-- another history), and applies the row changes of the inline projections, all in the caller's statement. Answers the events' global positions in stream
-- order, or NULL when another writer moved the stream first (the caller reloads and decides again).
-- A concurrent writer waits on the streams row, then finds the version moved: no sequence number
-- is taken and nothing is written.
CREATE FUNCTION ledger_append(
  p_stream_id       text,
  p_expected        bigint,
  p_previous_hash   text,   -- hash of the event at p_expected (ignored for a new stream)
  p_snapshot        jsonb,
  p_snapshot_schema integer,
  p_events          jsonb,  -- [{type, data, schema_version, hash}] in stream order
  p_metadata        jsonb,
  p_recorded_at     timestamptz,
  p_changes         jsonb   -- the inline projections' row changes, in order
) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  new_version bigint := p_expected + jsonb_array_length(p_events);
  positions bigint[];
  change jsonb;
BEGIN
  IF p_expected = 0 THEN
    INSERT INTO streams (stream_id, version, snapshot, snapshot_schema)
    VALUES (p_stream_id, new_version, p_snapshot, p_snapshot_schema)
    ON CONFLICT (stream_id) DO NOTHING;
  ELSE
    UPDATE streams SET version = new_version, snapshot = p_snapshot, snapshot_schema = p_snapshot_schema, updated_at = now()
    WHERE stream_id = p_stream_id AND version = p_expected
      AND EXISTS (SELECT FROM events WHERE stream_id = p_stream_id AND stream_version = p_expected AND hash = p_previous_hash);
  END IF;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;

  WITH inserted AS (
    INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash, schema_version)
    SELECT p_stream_id, p_expected + e.n, e.event->>'type', e.event->'data', p_metadata, p_recorded_at, e.event->>'hash',
           (e.event->>'schema_version')::smallint
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e(event, n)
    ORDER BY e.n
    RETURNING stream_version, global_position
  )
  SELECT array_agg(global_position ORDER BY stream_version) INTO positions FROM inserted;

  FOR change IN SELECT value FROM jsonb_array_elements(p_changes) LOOP
    PERFORM ledger_apply_change(change);
  END LOOP;
  RETURN positions;
END
$$;

-- MD5 is computed only when the pushing client sent Content-MD5 to check it.
ALTER TABLE state_versions ALTER COLUMN md5 DROP NOT NULL;
