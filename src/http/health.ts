import express from 'express';
import type { Logger } from '../logger.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import { projectionLag } from '../projections/async/checkpoints.js';
import { asyncProjections } from '../projections/async/projections.js';

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

/** Each asynchronous projection's lag, or `unavailable` when PostgreSQL does not answer it in time. */
const projectionsReport = async (db: SqlExecutor, timeoutMs: number, logger: Logger) => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const lags = await Promise.race([projectionLag(db, asyncProjections.map((p) => p.name)), timeout]);
    return lags.map((lag) => ({
      name: lag.name,
      lag_events: lag.events,
      lag_seconds: Math.round(lag.seconds * 1000) / 1000,
      checkpoint_at: lag.checkpointAt,
    }));
  } catch (error) {
    logger.warn({ err: error }, 'projection lag not read for /readyz?verbose');
    return 'unavailable' as const;
  } finally {
    clearTimeout(timer);
  }
};

/**
 * Without auth, and without details (a failure's reasons, paths and addresses go to the log):
 * `/livez` says the process answers and touches nothing; `/readyz` (alias `/healthz`) says whether
 * PostgreSQL and the blob store both answer in time. `/readyz?verbose` adds each asynchronous
 * projection's lag (events and seconds behind the ledger's final events, and when its checkpoint
 * last moved): names and numbers only. A projection behind does not make the server unready.
 */
export const healthRoutes = ({ db, blobs, logger, readyTimeoutMs }: HealthDeps): express.Router => {
  const router = express.Router();
  router.get('/livez', (_req, res) => void res.json({ status: 'ok' }));
  router.get(['/readyz', '/healthz'], async (req, res) => {
    const verbose = Object.prototype.hasOwnProperty.call(req.query, 'verbose');
    const [postgres, blobStore, projections] = await Promise.all([
      probe('postgres', () => db.query('SELECT 1'), readyTimeoutMs, logger),
      probe('blobs', () => blobs.ping(), readyTimeoutMs, logger),
      verbose ? projectionsReport(db, readyTimeoutMs, logger) : undefined,
    ]);
    const ready = postgres === 'ok' && blobStore === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable', postgres, blobs: blobStore, ...(verbose ? { projections } : {}) });
  });
  return router;
};
