import path from 'node:path';
import type pg from 'pg';
import type { LedgerDeps } from './application/deps.js';
import type { Config } from './config.js';
import { Refused } from './refused.js';
import type { Logger } from './logger.js';
import type { BlobStore } from './storage/blobs/blob-store.js';
import { fsBlobStore } from './storage/blobs/fs-blob-store.js';
import { s3BlobStore } from './storage/blobs/s3-blob-store.js';
import { lockDataDir } from './storage/data-dir-lock.js';
import { openEmbeddedPostgres } from './storage/embedded-postgres.js';
import { ledgerStores } from './ledger-stores.js';
import { CLI_POOL, migrate, openPool } from './storage/postgres.js';
import { openTempArea } from './storage/temp-area.js';

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

const SERVE = 'serve';

/**
 * The embedded PostgreSQL of DATA_DIR. Whoever holds DATA_DIR's lock owns the cluster and stops
 * it at the end; a second server is refused, and a CLI command run beside a live owner only
 * attaches to the cluster, never stopping it.
 */
const embeddedPostgres = async (config: Config, logger: Logger, command: string) => {
  const lock = await lockDataDir(config.dataDir, command);
  if (!lock.held && command === SERVE) {
    const { owner } = lock;
    throw new Refused(
      `DATA_DIR ${path.resolve(config.dataDir)} is in use by \`state-ledger ${owner.command}\` (pid ${owner.pid}); ` +
        'stop it first, or give this server another DATA_DIR',
    );
  }
  try {
    const cluster = await openEmbeddedPostgres(config.dataDir, lock.held ? 'own' : 'borrow', (line) => logger.info(line));
    return {
      url: cluster.url,
      stop: async () => {
        await cluster.stop();
        if (lock.held) await lock.release();
      },
    };
  } catch (error) {
    if (lock.held) await lock.release();
    throw error;
  }
};

/** Opens the database (embedded unless DATABASE_URL is set) and applies pending migrations. */
export const openDatabase = async (config: Config, logger: Logger, command: string) => {
  const embedded = config.databaseUrl === undefined ? await embeddedPostgres(config, logger, command) : undefined;
  const url = config.databaseUrl ?? embedded?.url ?? '';
  try {
    const applied = await migrate(url, (line) => logger.warn(line));
    if (applied.length > 0) logger.info({ applied }, 'database migrated');
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const settings = command === SERVE ? config.postgres : CLI_POOL;
  const pool = openPool(url, settings, (error) => logger.warn({ err: error }, 'a PostgreSQL connection failed'));
  return {
    url,
    pool,
    close: async () => {
      await pool.end();
      await embedded?.stop();
    },
  };
};

/** The blob store: S3 when configured, else files under DATA_DIR. */
export const openBlobStore = (config: Config): Promise<BlobStore> =>
  config.s3 === undefined ? fsBlobStore(path.join(config.dataDir, 'blobs')) : s3BlobStore(config.s3);

export const openRuntime = async (config: Config, logger: Logger, command: string): Promise<Runtime> => {
  const database = await openDatabase(config, logger, command);
  try {
    const blobs = await openBlobStore(config);
    const temp = await openTempArea(config.tmpDir, (removed) => logger.info({ removed, tmpDir: config.tmpDir }, 'removed temporary bodies left by stopped processes'));
    const ledger: LedgerDeps = {
      ...ledgerStores(database.pool, (error) => logger.warn({ err: error }, 'could not announce new events (readers catch up within a second)')),
      db: database.pool,
      blobs,
      limits: { maxBytes: config.maxStateBytes, tmpDir: temp.dir, idleTimeoutMs: config.traffic.bodyIdleTimeoutMs },
    };
    const close = async () => {
      await temp.close();
      await database.close();
    };
    return { databaseUrl: database.url, pool: database.pool, blobs, ledger, close };
  } catch (error) {
    await database.close();
    throw error;
  }
};
