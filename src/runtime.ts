import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { LedgerDeps } from './application/deps.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { BlobStore } from './storage/blobs/blob-store.js';
import { fsBlobStore } from './storage/blobs/fs-blob-store.js';
import { s3BlobStore } from './storage/blobs/s3-blob-store.js';
import { openEmbeddedPostgres, type Ownership } from './storage/embedded-postgres.js';
import { pgEventStore } from './storage/pg-event-store.js';
import { migrate, openPool } from './storage/postgres.js';

/** Everything a command needs, wired from the configuration: the one place adapters are chosen. */
export interface Runtime {
  readonly databaseUrl: string;
  readonly pool: pg.Pool;
  readonly blobs: BlobStore;
  /** The ports the use cases run on. Push bodies wait in limits.tmpDir while they are checked. */
  readonly ledger: LedgerDeps;
  close(): Promise<void>;
}

export const describeBackends = (config: Config): string =>
  `${config.databaseUrl === undefined ? 'embedded PostgreSQL' : 'PostgreSQL at DATABASE_URL'}, ` +
  `${config.s3 === undefined ? 'file-system blobs' : `S3 bucket ${config.s3.bucket} at ${config.s3.endPoint}`}`;

/** Opens the database (embedded unless DATABASE_URL is set) and applies pending migrations. */
export const openDatabase = async (config: Config, logger: Logger, ownership: Ownership) => {
  const embedded =
    config.databaseUrl === undefined
      ? await openEmbeddedPostgres(config.dataDir, ownership, (line) => logger.info(line))
      : undefined;
  const url = config.databaseUrl ?? embedded?.url ?? '';
  try {
    const applied = await migrate(url, (line) => logger.warn(line));
    if (applied.length > 0) logger.info({ applied }, 'database migrated');
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const pool = openPool(url);
  return {
    url,
    pool,
    close: async () => {
      await pool.end();
      await embedded?.stop();
    },
  };
};

export const openRuntime = async (config: Config, logger: Logger, ownership: Ownership): Promise<Runtime> => {
  const database = await openDatabase(config, logger, ownership);
  try {
    const blobs = config.s3 === undefined ? await fsBlobStore(path.join(config.dataDir, 'blobs')) : await s3BlobStore(config.s3);
    // Private to this process's user: bodies hold secrets. Beside the blobs when blobs are files (so they link).
    const tmpDir =
      config.s3 === undefined
        ? await fs.mkdir(path.join(config.dataDir, 'tmp'), { recursive: true, mode: 0o700 }).then(() => path.join(config.dataDir, 'tmp'))
        : await fs.mkdtemp(path.join(os.tmpdir(), 'state-ledger-'));
    const ledger: LedgerDeps = {
      store: pgEventStore(database.pool),
      db: database.pool,
      blobs,
      limits: { maxBytes: config.maxStateBytes, tmpDir },
    };
    const close = async () => {
      if (config.s3 !== undefined) await fs.rm(tmpDir, { recursive: true, force: true });
      await database.close();
    };
    return { databaseUrl: database.url, pool: database.pool, blobs, ledger, close };
  } catch (error) {
    await database.close();
    throw error;
  }
};
