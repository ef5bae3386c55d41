import type pg from 'pg';

export type RetentionJob = 'prune' | 'gc';

/**
 * Runs `work` only if no other process (server or command line, on any machine sharing the
 * database) is running the same job: a PostgreSQL session advisory lock, tried, never waited for.
 * Answers undefined when another holds it. The lock goes with the session if the process dies.
 */
export const exclusively = async <A>(pool: pg.Pool, job: RetentionJob, work: () => Promise<A>): Promise<A | undefined> => {
  const client = await pool.connect();
  const onError = () => undefined; // a terminated backend must not end the process; the queries reject instead
  client.on('error', onError);
  let broken: Error | undefined;
  try {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('state-ledger retention'), hashtext($1)) AS locked", [job]);
    if (rows[0]?.locked !== true) return undefined;
    try {
      return await work();
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext('state-ledger retention'), hashtext($1))", [job]).catch((error: Error) => (broken = error));
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
};
