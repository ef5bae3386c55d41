import { ACCESS_STREAM } from '../events/access-events.js';
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

/** The SQL condition for FeedVisibility, given the placeholders of the access stream's id, the patterns and the access flag. */
const VISIBLE = (access: string, states: string, managesAccess: string) =>
  `((stream_id <> ${access} AND stream_id LIKE ANY(${states}::text[])) OR (${managesAccess} AND stream_id = ${access}))`;

/** Which events a reader may see: those of states matching a LIKE pattern, and the access stream's if it manages access. */
export interface FeedVisibility {
  readonly states: readonly string[];
  readonly access: boolean;
}

/**
 * The global feed after the event at position `after` (0: from the start). It shows only events
 * of transactions older than every one still running, ordered by (transaction, position): an
 * event can then never appear later behind a cursor a reader already holds, which ordering by
 * position alone cannot promise (positions are taken before commit).
 */
export const globalFeed = async (
  sql: SqlExecutor,
  page: { after: number; limit: number; visible: FeedVisibility },
): Promise<RecordedEvent[] | 'unknown cursor' | 'cursor not final'> => {
  let tx = '0';
  if (page.after > 0) {
    // Only a position the reader may see: probing others would tell how busy the whole ledger is.
    const cursor = await sql.query<{ tx: string; final: boolean }>(
      `SELECT transaction_id::text AS tx, transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AS final
       FROM events WHERE global_position = $1 AND ${VISIBLE('$2', '$3', '$4')}`,
      [page.after, ACCESS_STREAM, page.visible.states, page.visible.access],
    );
    const row = cursor.rows[0];
    if (row === undefined) return 'unknown cursor';
    // A position the feed has not reached yet (seen elsewhere first): an older transaction may
    // still commit events that belong before it, and following from it would skip them.
    if (!row.final) return 'cursor not final';
    tx = row.tx;
  }
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(
    `SELECT ${eventColumns} FROM events
     WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
       AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       AND ${VISIBLE('$4', '$5', '$6')}
     ORDER BY transaction_id, global_position
     LIMIT $3`,
    [tx, page.after, page.limit, ACCESS_STREAM, page.visible.states, page.visible.access],
  );
  return rows.map(decodeEventRow);
};
