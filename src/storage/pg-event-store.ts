import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import type { AppendRequest, EventStore, LedgerTransaction, LoadedStream, StreamVersionConflict } from '../commands/ports.js';
import type { LedgerState } from '../commands/state.js';
import { stateStreams, type StreamKind } from '../commands/stream-kinds.js';
import type { LedgerEvent, RecordedEvent, StateEvent } from '../events/events.js';
import { chainHash, GENESIS_HASH } from '../events/hash-chain.js';
import { changeStatement, collapse } from '../projections/inline.js';
import { project } from '../projections/read-model.js';
import type { SqlExecutor } from '../projections/sql.js';
import { decodeEventRow, eventColumns, type EventRow } from './event-rows.js';

/** Channel that carries the newest global position after each commit (a wake-up, not a delivery). */
export const EVENTS_CHANNEL = 'state_ledger_events';

const UNIQUE_VIOLATION = '23505';

export const readStreamEvents = async (sql: SqlExecutor, streamId: string): Promise<RecordedEvent[]> => {
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(
    `SELECT ${eventColumns} FROM events WHERE stream_id = $1 ORDER BY stream_version`,
    [streamId],
  );
  return rows.map(decodeEventRow);
};

/** Where the stream's last event leaves off: the next event chains from its hash and is never recorded earlier. */
interface ChainHead {
  readonly hash: string;
  readonly recordedAt: Date;
}

interface Loaded<S> extends LoadedStream<S> {
  readonly head: ChainHead;
}

const GENESIS: ChainHead = { hash: GENESIS_HASH, recordedAt: new Date(0) };

interface StreamRow {
  version: number;
  snapshot: unknown;
  snapshot_schema: number;
  hash: string | null;
  recorded_at: Date;
}

const streamQuery = (streamId: string) =>
  `SELECT s.version, s.snapshot, s.snapshot_schema, e.hash, e.recorded_at
   FROM streams s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.stream_version = s.version
   WHERE s.stream_id = ${pg.escapeLiteral(streamId)}`;

/**
 * The stream's snapshot and chain head. Inside a unit of work the first load also opens the
 * transaction, in the same round trip (a simple query of two statements).
 */
const loadStream = async <S, Ev extends LedgerEvent>(kind: StreamKind<S, Ev>, sql: SqlExecutor, streamId: string, begin = false): Promise<Loaded<S>> => {
  const rows = begin
    ? ((await sql.query(`BEGIN; ${streamQuery(streamId)}`)) as unknown as Array<{ rows: StreamRow[] }>)[1]?.rows ?? []
    : (await sql.query<StreamRow & Record<string, unknown>>(streamQuery(streamId))).rows;
  const row = rows[0];
  if (row === undefined) return { state: kind.initial, version: 0, head: GENESIS };
  if (row.hash === null) throw new Error(`stream ${streamId} is at version ${row.version} but has no such event`);
  const head = { hash: row.hash, recordedAt: row.recorded_at };
  const snapshot = row.snapshot_schema === kind.snapshotSchema ? kind.snapshot.decode(row.snapshot) : undefined;
  if (snapshot !== undefined && E.isRight(snapshot)) return { state: snapshot.right, version: row.version, head };
  const events = (await readStreamEvents(sql, streamId)).map((e) => e.event);
  const foreign = events.find((event) => !kind.owns(event));
  if (foreign !== undefined) throw new Error(`stream ${streamId} holds a ${foreign.type} event, which does not belong there`);
  return { state: (events as Ev[]).reduce(kind.evolve, kind.initial), version: events.length, head };
};

const isUniqueViolation = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNIQUE_VIOLATION;

/**
 * Compare-and-set on the stream version, then one statement that inserts the chained events,
 * applies the inline projections and queues the NOTIFY (sent on commit): few round trips per command.
 */
const append = async <S, Ev extends LedgerEvent>(
  kind: StreamKind<S, Ev>,
  client: pg.PoolClient,
  request: AppendRequest<S, Ev>,
  head: ChainHead,
): Promise<E.Either<StreamVersionConflict, Array<RecordedEvent<Ev>>>> => {
  const { streamId, expectedVersion, events, metadata, stateAfter } = request;
  // Times never go backwards within a stream (clocks of several servers may disagree slightly),
  // so "the last event at or before T" is also the latest by stream version.
  const recordedAt = request.recordedAt < head.recordedAt ? head.recordedAt : request.recordedAt;
  const conflict = E.left<StreamVersionConflict>({ type: 'StreamVersionConflict', streamId });
  const newVersion = expectedVersion + events.length;
  // A concurrent writer blocks here, then finds the version moved and gets zero rows,
  // before any sequence number is taken.
  const moved =
    expectedVersion === 0
      ? await client.query(
          `INSERT INTO streams (stream_id, version, snapshot, snapshot_schema) VALUES ($1, $2, $3, $4)
           ON CONFLICT (stream_id) DO NOTHING`,
          [streamId, newVersion, stateAfter, kind.snapshotSchema],
        )
      : await client.query(
          `UPDATE streams SET version = $2, snapshot = $3, snapshot_schema = $4, updated_at = now()
           WHERE stream_id = $1 AND version = $5`,
          [streamId, newVersion, stateAfter, kind.snapshotSchema, expectedVersion],
        );
  if (moved.rowCount !== 1) return conflict;

  // The version did not move since the load, so neither did the chain's last link.
  let hash = head.hash;
  const rows = events.map((event, i) => {
    const stream_version = expectedVersion + i + 1;
    hash = chainHash(hash, { stream_id: streamId, stream_version, type: event.type, data: event.data, metadata, recorded_at: recordedAt });
    return { stream_version, type: event.type, data: event.data, hash };
  });
  const values: unknown[] = [];
  const param = (value: unknown) => `$${values.push(value)}`;
  const inserted = `INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash)
    SELECT ${param(streamId)}, e.stream_version, e.type, e.data, ${param(metadata)}, ${param(recordedAt)}, e.hash
    FROM jsonb_to_recordset(${param(JSON.stringify(rows))}::jsonb) AS e(stream_version bigint, type text, data jsonb, hash text)
    ORDER BY e.stream_version
    RETURNING ${eventColumns}`;
  const changes = collapse(events.flatMap((event) => project({ streamId, event, metadata, recordedAt })));
  const statement = [
    `WITH inserted AS (${inserted})`,
    ...changes.map((change, i) => `, change_${i} AS (${changeStatement(change, param)})`),
    `, notified AS (SELECT pg_notify(${param(EVENTS_CHANNEL)}, max(global_position)::text) FROM inserted)`,
    `SELECT ${eventColumns} FROM inserted, notified ORDER BY stream_version`,
  ].join('\n');
  try {
    const result = await client.query<EventRow>(statement, values);
    return E.right(result.rows.map(decodeEventRow) as Array<RecordedEvent<Ev>>);
  } catch (error) {
    if (isUniqueViolation(error)) return conflict;
    throw error;
  }
};

/** The streams of one kind (states, or access) in PostgreSQL. */
export const pgStreamStore = <S, Ev extends LedgerEvent>(pool: pg.Pool, kind: StreamKind<S, Ev>): EventStore<S, Ev> => ({
  load: async (streamId) => {
    const { state, version } = await loadStream(kind, pool, streamId);
    return { state, version };
  },
  transaction: async (work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    let begun = false;
    try {
      const chainHeads = new Map<string, ChainHead>();
      const tx: LedgerTransaction<S, Ev> = {
        load: async (streamId) => {
          const opens = !begun;
          begun = true; // set first: if the load fails, the transaction it opened must still be rolled back
          const { state, version, head } = await loadStream(kind, client, streamId, opens);
          chainHeads.set(streamId, head);
          return { state, version };
        },
        append: (request) => {
          const head = chainHeads.get(request.streamId);
          if (head === undefined) throw new Error(`append to ${request.streamId} without loading it in this transaction`);
          return append(kind, client, request, head);
        },
      };
      const outcome = await work(tx);
      if (begun) await client.query(E.isRight(outcome) ? 'COMMIT' : 'ROLLBACK');
      return outcome;
    } catch (error) {
      // A connection that cannot even roll back is dropped from the pool rather than reused.
      if (begun) await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      client.release(broken);
    }
  },
});

/** The states' streams. */
export const pgEventStore = (pool: pg.Pool): EventStore<LedgerState, StateEvent> => pgStreamStore(pool, stateStreams);
