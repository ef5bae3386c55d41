import type pg from 'pg';
import { evolve, initialState, type LedgerState } from '../commands/state.js';
import { decodeEventRow, eventColumns, type EventRow } from '../storage/event-rows.js';
import { SNAPSHOT_SCHEMA } from '../storage/pg-event-store.js';
import { applyEvents, readModelTables } from './inline.js';

const BATCH = 2000;

export interface ReplayProgress {
  readonly events: number;
  readonly total: number;
}

/**
 * Rebuilds every read model (and every stream's decider snapshot) from the events, in one
 * transaction: readers keep the old tables until it commits, writers wait for it, so nothing is missed.
 */
export const replay = async (pool: pg.Pool, onProgress: (progress: ReplayProgress) => void = () => undefined) => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Writers update streams first, so this stops them for the duration without blocking reads of the ledger.
    await client.query('LOCK TABLE streams IN EXCLUSIVE MODE');
    const { rows } = await client.query<{ total: number }>('SELECT count(*)::int AS total FROM events');
    const total = rows[0]?.total ?? 0;
    await client.query(`TRUNCATE ${readModelTables.join(', ')}`);
    const states = new Map<string, LedgerState>();
    let after = 0;
    let done = 0;
    for (;;) {
      const batch = await client.query<EventRow>(
        `SELECT ${eventColumns} FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
        [after, BATCH],
      );
      const events = batch.rows.map(decodeEventRow);
      const last = events[events.length - 1];
      if (last === undefined) break;
      await applyEvents(client, events);
      for (const e of events) states.set(e.streamId, evolve(states.get(e.streamId) ?? initialState, e.event));
      after = last.position;
      done += events.length;
      onProgress({ events: done, total });
    }
    await client.query(
      `UPDATE streams s SET snapshot = r.snapshot, snapshot_schema = $2
       FROM jsonb_each($1::jsonb) AS r(stream_id, snapshot) WHERE s.stream_id = r.stream_id`,
      [JSON.stringify(Object.fromEntries(states)), SNAPSHOT_SCHEMA],
    );
    await client.query('COMMIT');
    return { events: done };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};
