import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import type {
  AppendRequest,
  EventStore,
  LedgerTransaction,
  LoadedStream,
  StreamVersionConflict,
} from '../commands/ports.js';
import { fold, initialState, LedgerStateCodec } from '../commands/state.js';
import type { RecordedEvent } from '../events/events.js';
import { chainHash, GENESIS_HASH } from '../events/hash-chain.js';
import { applyEvents } from '../projections/inline.js';
import type { SqlExecutor } from '../projections/sql.js';
import { decodeEventRow, eventColumns, type EventRow } from './event-rows.js';

/** Bump when LedgerState changes shape: older snapshots are then ignored and the stream refolded. */
export const SNAPSHOT_SCHEMA = 1;

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

const loadStream = async (sql: SqlExecutor, streamId: string): Promise<LoadedStream> => {
  const { rows } = await sql.query<{ version: number; snapshot: unknown; snapshot_schema: number }>(
    'SELECT version, snapshot, snapshot_schema FROM streams WHERE stream_id = $1',
    [streamId],
  );
  const row = rows[0];
  if (row === undefined) return { state: initialState, version: 0 };
  const snapshot = row.snapshot_schema === SNAPSHOT_SCHEMA ? LedgerStateCodec.decode(row.snapshot) : undefined;
  if (snapshot !== undefined && E.isRight(snapshot)) return { state: snapshot.right, version: Number(row.version) };
  const events = await readStreamEvents(sql, streamId);
  return { state: fold(events.map((e) => e.event)), version: events.length };
};

const isUniqueViolation = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNIQUE_VIOLATION;

const append = async (
  client: pg.PoolClient,
  request: AppendRequest,
): Promise<E.Either<StreamVersionConflict, RecordedEvent[]>> => {
  const { streamId, expectedVersion, events, metadata, recordedAt, stateAfter } = request;
  const conflict = E.left<StreamVersionConflict>({ type: 'StreamVersionConflict', streamId });
  const newVersion = expectedVersion + events.length;
  // Compare-and-set on the stream version first: a concurrent writer blocks here, then finds the
  // version moved and gets zero rows, before any sequence number is taken.
  const moved =
    expectedVersion === 0
      ? await client.query(
          `INSERT INTO streams (stream_id, version, snapshot, snapshot_schema) VALUES ($1, $2, $3, $4)
           ON CONFLICT (stream_id) DO NOTHING`,
          [streamId, newVersion, stateAfter, SNAPSHOT_SCHEMA],
        )
      : await client.query(
          `UPDATE streams SET version = $2, snapshot = $3, snapshot_schema = $4, updated_at = now()
           WHERE stream_id = $1 AND version = $5`,
          [streamId, newVersion, stateAfter, SNAPSHOT_SCHEMA, expectedVersion],
        );
  if (moved.rowCount !== 1) return conflict;
  // We now hold the stream row, so the chain's last link cannot move until we commit.
  const previous =
    expectedVersion === 0
      ? GENESIS_HASH
      : (await client.query<{ hash: string }>('SELECT hash FROM events WHERE stream_id = $1 AND stream_version = $2', [streamId, expectedVersion])).rows[0]?.hash;
  if (previous === undefined) throw new Error(`stream ${streamId} has no event at version ${expectedVersion}`);
  let hash = previous;
  const rows = events.map((event, i) => {
    const stream_version = expectedVersion + i + 1;
    hash = chainHash(hash, { stream_id: streamId, stream_version, type: event.type, data: event.data, metadata, recorded_at: recordedAt });
    return { stream_version, type: event.type, data: event.data, hash };
  });
  try {
    const inserted = await client.query<EventRow>(
      `INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at, hash)
       SELECT $1, e.stream_version, e.type, e.data, $3, $4, e.hash
       FROM jsonb_to_recordset($2::jsonb) AS e(stream_version bigint, type text, data jsonb, hash text)
       ORDER BY e.stream_version
       RETURNING ${eventColumns}`,
      [streamId, JSON.stringify(rows), metadata, recordedAt],
    );
    const recorded = inserted.rows.map(decodeEventRow).sort((a, b) => a.streamVersion - b.streamVersion);
    await applyEvents(client, recorded);
    const last = recorded[recorded.length - 1];
    if (last !== undefined) await client.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(last.position)]);
    return E.right(recorded);
  } catch (error) {
    if (isUniqueViolation(error)) return conflict;
    throw error;
  }
};

export const pgEventStore = (pool: pg.Pool): EventStore => ({
  load: (streamId) => loadStream(pool, streamId),
  transaction: async (work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const tx: LedgerTransaction = {
        load: (streamId) => loadStream(client, streamId),
        append: (request) => append(client, request),
      };
      const outcome = await work(tx);
      await client.query(E.isRight(outcome) ? 'COMMIT' : 'ROLLBACK');
      return outcome;
    } catch (error) {
      // A connection that cannot even roll back is dropped from the pool rather than reused.
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      client.release(broken);
    }
  },
});
