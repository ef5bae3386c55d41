import type { SqlExecutor } from './sql.js';

/** Channel that carries the newest global position after commits (a wake-up, not a delivery). */
export const EVENTS_CHANNEL = 'state_ledger_events';

/**
 * Sends NOTIFY after appends have committed, outside them: NOTIFY takes a database-wide lock at
 * commit, which inside the appending statement would serialise every writer. Coalesced, at most
 * one in flight per process; a lost one (a crash, a fault) only delays readers until their
 * backstop re-read.
 */
export const commitNotifier = (sql: SqlExecutor, onError: (error: Error) => void) => {
  let newest = 0;
  let due = false;
  let sending = false;
  const send = async () => {
    sending = true;
    try {
      while (due) {
        due = false;
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
