import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

/** migrations/ sits two levels above this file both in src/storage and in dist/storage. */
export const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

// bigint columns (positions, sizes) arrive as strings; int8 values we keep fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PoolSettings {
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
  /** 0: no limit (the CLI's long replays). */
  readonly statementTimeoutMs: number;
}

export const CLI_POOL: PoolSettings = { poolMax: 10, connectTimeoutMs: 10_000, statementTimeoutMs: 0 };

/**
 * A pool that survives PostgreSQL going away. Every client gets an error listener for its whole
 * life: pg-pool removes its own while a client is checked out, and an 'error' event without a
 * listener (the server restarting mid-transaction) would end the process. The client's next query
 * then fails, the request answers 503, and the pool replaces the broken client.
 */
export const openPool = (url: string, settings: PoolSettings, onError: (error: Error) => void = () => undefined): pg.Pool => {
  const statementTimeout = settings.statementTimeoutMs > 0 ? { statement_timeout: settings.statementTimeoutMs } : {};
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.poolMax,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    ...statementTimeout,
    // A frozen server never answers, so statement_timeout never fires: give up a little after it would.
    ...(settings.statementTimeoutMs > 0 ? { query_timeout: settings.statementTimeoutMs + 5000 } : {}),
    keepAlive: true,
  });
  pool.on('connect', (client) => client.on('error', onError));
  pool.on('error', onError);
  return pool;
};

/**
 * Applies the numbered SQL files in migrations/ that are not yet recorded, in order, each in its
 * own transaction. Several processes starting at once queue on an advisory lock.
 */
export const migrate = async (url: string, log: (line: string) => void): Promise<string[]> => {
  const applied = await runner({
    databaseUrl: url,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'schema_migrations',
    checkOrder: true,
    advisoryLockMode: 'wait',
    log: () => undefined,
    logger: { debug: () => undefined, info: () => undefined, warn: log, error: log },
  });
  return applied.map((migration) => migration.name);
};
