import { ACCESS_STREAM } from '../events/access-events.js';
import type { RecordedEvent } from '../events/events.js';
import { decodeEventRow, eventColumns, type EventRow } from './event-rows.js';
import type { LockInfo } from '../events/lock-info.js';
import type { SqlExecutor } from './sql.js';

/** A lock as held: its LockInfo, since when and by whom. */
export interface HeldLock {
  readonly info: LockInfo;
  readonly acquired_at: Date;
  readonly acquired_by: string;
}

type Row = Record<string, unknown>;

/** Every event of a stream, in stream order. */
export const readStreamEvents = async (sql: SqlExecutor, streamId: string): Promise<RecordedEvent[]> => {
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(`SELECT ${eventColumns} FROM events WHERE stream_id = $1 ORDER BY stream_version`, [streamId]);
  return rows.map(decodeEventRow);
};

/** One state's events in stream order after a stream version, or newest first before one. */
export const streamEvents = async (
  sql: SqlExecutor,
  name: string,
  page: { readonly after: number; readonly limit: number } | { readonly before: number; readonly limit: number },
): Promise<RecordedEvent[]> => {
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(
    'after' in page
      ? `SELECT ${eventColumns} FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version LIMIT $3`
      : `SELECT ${eventColumns} FROM events WHERE stream_id = $1 AND stream_version < $2 ORDER BY stream_version DESC LIMIT $3`,
    [name, 'after' in page ? page.after : page.before, page.limit],
  );
  return rows.map(decodeEventRow);
};

/** The SQL condition for FeedVisibility, given the placeholders of the access stream's id, the patterns and the access flag. */
const VISIBLE = (access: string, states: string, managesAccess: string) =>
  `((stream_id <> ${access} AND stream_id ~ ANY(${states}::text[])) OR (${managesAccess} AND stream_id = ${access}))`;

/** Which events a reader may see: those of states matching a regular expression, and the access stream's if it manages access. */
export interface FeedVisibility {
  readonly states: readonly string[];
  readonly access: boolean;
}

/**
 * The global feed after the event at position `after` (0: from the start). It shows only events
 * of transactions older than every one still running, ordered by (transaction, position): an
 * event can then never appear later behind a cursor a reader already holds, which ordering by
 * position alone cannot promise (positions are taken before commit).
 *
 * A cursor the feed has not reached yet answers an empty page, so a long poll waits on it: an
 * event whose transaction is older than a running one (seen elsewhere first), or a position
 * never written (yet), whose first page is then the events written after that position.
 */
export const globalFeed = async (sql: SqlExecutor, page: { after: number; limit: number; visible: FeedVisibility }): Promise<RecordedEvent[]> => {
  let tx = '0';
  if (page.after > 0) {
    const cursor = await sql.query<{ tx: string; final: boolean }>(
      `SELECT transaction_id::text AS tx, transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AS final FROM events WHERE global_position = $1`,
      [page.after],
    );
    const row = cursor.rows[0];
    if (row === undefined) return eventsAfterPosition(sql, page);
    if (!row.final) return [];
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

/** The first page after a position no event holds: the final events written after it, in commit order. */
const eventsAfterPosition = async (sql: SqlExecutor, page: { after: number; limit: number; visible: FeedVisibility }): Promise<RecordedEvent[]> => {
  const { rows } = await sql.query<EventRow & Record<string, unknown>>(
    `SELECT ${eventColumns} FROM events
     WHERE global_position > $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) AND ${VISIBLE('$3', '$4', '$5')}
     ORDER BY transaction_id, global_position
     LIMIT $2`,
    [page.after, page.limit, ACCESS_STREAM, page.visible.states, page.visible.access],
  );
  return rows.map(decodeEventRow);
};

/**
 * The present, as a cursor: the position of the last final event of the whole ledger (0 when there
 * is none), so that following the feed from it shows only what happens from now on. Not the last
 * event the reader may see: finding that means scanning back past every event it may not, which
 * for a narrow reader of a busy ledger is the whole table. The number tells how many positions
 * the ledger has handed out, nothing more.
 */
export const presentPosition = async (sql: SqlExecutor): Promise<number> => {
  const { rows } = await sql.query<{ position: string }>(
    `SELECT global_position::text AS position FROM events
     WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
  );
  return rows[0] === undefined ? 0 : Number(rows[0].position);
};

/** A place in commit order: (transaction id, global position) of the last event read. */
export interface CommitCursor {
  readonly tx: string;
  readonly position: number;
}

export const COMMIT_ORDER_START: CommitCursor = { tx: '0', position: 0 };

/** The size of the body an event stores (a push or a rollback), as written; 0 for any other event. */
const bodyBytes = (row: EventRow): number => {
  if (row.type !== 'StatePushed' && row.type !== 'StateRolledBack') return 0;
  const size = (row.data as { size?: unknown } | null)?.size;
  return typeof size === 'number' ? size : 0;
};

/** How many of the rows to keep: up to and with the first whose body takes the bodies past `maxBytes`. */
const withinBodyBytes = (rows: readonly EventRow[], maxBytes: number): number => {
  let bytes = 0;
  for (const [i, row] of rows.entries()) {
    bytes += bodyBytes(row);
    if (bytes > maxBytes) return i + 1;
  }
  return rows.length;
};

/**
 * Up to `limit` events after the cursor in commit order, and the cursor after them. With
 * `committedOnly`, only events of transactions older than every running one, so that nothing can
 * later appear behind the cursor; with `until`, only events recorded at or before it. With
 * `maxBodyBytes`, the events end with the first whose body takes the bodies they store past it, so
 * that a reader of the bodies holds one large body's worth at a time (always at least one event).
 */
export const eventsInCommitOrder = async (
  sql: SqlExecutor,
  after: CommitCursor,
  options: { readonly committedOnly: boolean; readonly until: Date | null; readonly limit: number; readonly maxBodyBytes?: number },
): Promise<{ events: RecordedEvent[]; cursor: CommitCursor }> => {
  const { rows } = await sql.query<EventRow & { tx: string } & Record<string, unknown>>(
    `SELECT ${eventColumns}, transaction_id::text AS tx FROM events
     WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
       AND (NOT $3 OR transaction_id < pg_snapshot_xmin(pg_current_snapshot()))
       AND ($4::timestamptz IS NULL OR recorded_at <= $4)
     ORDER BY transaction_id, global_position LIMIT $5`,
    [after.tx, after.position, options.committedOnly, options.until, options.limit],
  );
  const kept = options.maxBodyBytes === undefined ? rows : rows.slice(0, withinBodyBytes(rows, options.maxBodyBytes));
  const last = kept[kept.length - 1];
  return { events: kept.map(decodeEventRow), cursor: last === undefined ? after : { tx: last.tx, position: last.global_position } };
};

/** Whether the ledger has ever heard of this state (any event at all). */
export const stateKnown = async (sql: SqlExecutor, name: string): Promise<boolean> => {
  const { rows } = await sql.query('SELECT 1 FROM streams WHERE stream_id = $1', [name]);
  return rows.length > 0;
};

/** The version of the body a state had at an instant: the last write at or before it (null if deleted or absent then). */
export const versionAt = async (sql: SqlExecutor, name: string, at: Date): Promise<number | null> => {
  const { rows } = await sql.query<{ type: string; version: number } & Row>(
    `SELECT type, (data->>'version')::int AS version FROM events
     WHERE stream_id = $1 AND recorded_at <= $2 AND type IN ('StatePushed', 'StateRolledBack', 'StateDeleted')
     ORDER BY stream_version DESC LIMIT 1`,
    [name, at],
  );
  const last = rows[0];
  return last === undefined || last.type === 'StateDeleted' ? null : last.version;
};

/** The lock held at an instant, from the ledger itself. */
export const lockAt = async (sql: SqlExecutor, name: string, at: Date): Promise<HeldLock | undefined> => {
  const { rows } = await sql.query<{ type: string; lock: LockInfo; recorded_at: Date; actor: string } & Row>(
    `SELECT type, data->'lock' AS lock, recorded_at, metadata->>'actor' AS actor FROM events
     WHERE stream_id = $1 AND recorded_at <= $2 AND type IN ('StateLocked', 'StateUnlocked', 'LockForceReleased')
     ORDER BY stream_version DESC LIMIT 1`,
    [name, at],
  );
  const last = rows[0];
  return last?.type === 'StateLocked' ? { info: last.lock, acquired_at: last.recorded_at, acquired_by: last.actor } : undefined;
};

