import type { RecordedEvent } from '../events/events.js';
import { decodeEventRow, eventColumns, type EventRow } from '../storage/event-rows.js';
import type { SqlExecutor } from './sql.js';

/** One state's events in stream order, after a stream version. */
export const streamEvents = async (sql: SqlExecutor, name: string, page: { after: number; limit: number }): Promise<RecordedEvent[]> => {
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(
    `SELECT ${eventColumns} FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version LIMIT $3`,
    [name, page.after, page.limit],
  );
  return rows.map(decodeEventRow);
};

/**
 * The global feed after the event at position `after` (0: from the start). It shows only events
 * of transactions older than every one still running, ordered by (transaction, position): an
 * event can then never appear later behind a cursor a reader already holds, which ordering by
 * position alone cannot promise (positions are taken before commit).
 */
export const globalFeed = async (sql: SqlExecutor, page: { after: number; limit: number }): Promise<RecordedEvent[] | undefined> => {
  let tx = '0';
  if (page.after > 0) {
    const cursor = await sql.query<{ tx: string }>('SELECT transaction_id::text AS tx FROM events WHERE global_position = $1', [page.after]);
    if (cursor.rows[0] === undefined) return undefined;
    tx = cursor.rows[0].tx;
  }
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(
    `SELECT ${eventColumns} FROM events
     WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
       AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY transaction_id, global_position
     LIMIT $3`,
    [tx, page.after, page.limit],
  );
  return rows.map(decodeEventRow);
};
