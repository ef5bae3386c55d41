import type { SqlExecutor } from './sql.js';

/** Channel that carries the newest global position after commits (a wake-up, not a delivery). */
export const EVENTS_CHANNEL = 'state_ledger_events';

/** Least time between two notifications of one process: a steady stream of appends costs at most 100 a second. */
export const NOTIFY_INTERVAL_MS = 10;

/**
 * Sends NOTIFY after appends have committed, outside them: NOTIFY takes a database-wide lock at
 * commit, which inside the appending statement would serialise every writer. Coalesced: the first
 * commit after a quiet spell is announced at once, later ones at most once per `intervalMs`, one
 * in flight at a time, always with the newest position. Each NOTIFY is a transaction of its own,
 * so one per append would cost PostgreSQL and this process as much again as a lock's own statement.
 * A lost one (a crash, a fault) only delays readers until their backstop re-read.
 */
export const commitNotifier = (sql: SqlExecutor, onError: (error: Error) => void, intervalMs: number = NOTIFY_INTERVAL_MS) => {
  let newest = 0;
  let due = false;
  let sending = false;
  let sentAt = Number.NEGATIVE_INFINITY;
  const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  const send = async () => {
    sending = true;
    try {
      while (due) {
        // Re-checked after each pause: a timer counts from the event loop's cached clock, which
        // can lag behind, so it may fire early.
        let wait: number;
        while ((wait = sentAt + intervalMs - performance.now()) > 0) await pause(wait);
        due = false;
        sentAt = performance.now();
        await sql.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(newest)]).catch((error: Error) => {
          try {
            onError(error);
          } catch {
            // A failing report must not stop the notifications.
          }
        });
      }
    } finally {
      sending = false;
    }
  };
  return (position: number): void => {
    newest = Math.max(newest, position);
    due = true;
    if (!sending) void send();
  };
};
