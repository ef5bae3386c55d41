import express from 'express';
import type { Logger } from '../logger.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';

type Status = 'ok' | 'unavailable';

/** Resolves with `ok` if the check answers within the time, else logs why and says `unavailable`. */
const probe = async (what: string, check: () => Promise<unknown>, timeoutMs: number, logger: Logger): Promise<Status> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch (error) {
    logger.warn({ dependency: what, err: error }, 'readiness check failed');
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
};

export interface HealthDeps {
  readonly db: SqlExecutor;
  readonly blobs: BlobStore;
  readonly logger: Logger;
  readonly readyTimeoutMs: number;
}

/**
 * Without auth, and without details (a failure's reasons, paths and addresses go to the log):
 * `/livez` says the process answers and touches nothing; `/readyz` (alias `/healthz`) says whether
 * PostgreSQL and the blob store both answer in time.
 */
export const healthRoutes = ({ db, blobs, logger, readyTimeoutMs }: HealthDeps): express.Router => {
  const router = express.Router();
  router.get('/livez', (_req, res) => void res.json({ status: 'ok' }));
  router.get(['/readyz', '/healthz'], async (_req, res) => {
    const [postgres, blobStore] = await Promise.all([
      probe('postgres', () => db.query('SELECT 1'), readyTimeoutMs, logger),
      probe('blobs', () => blobs.ping(), readyTimeoutMs, logger),
    ]);
    const ready = postgres === 'ok' && blobStore === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable', postgres, blobs: blobStore });
  });
  return router;
};
