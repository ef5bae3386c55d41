import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

/** migrations/ sits two levels above this file both in src/storage and in dist/storage. */
export const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

// bigint columns (positions, sizes) arrive as strings; int8 values we keep fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export const openPool = (url: string): pg.Pool => {
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  // An idle client that loses its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
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
