import express from 'express';
import type { SqlExecutor } from '../projections/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';

const TIMEOUT_MS = 2000;

const probe = async (check: () => Promise<unknown>): Promise<string> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    clearTimeout(timer);
  }
};

/** GET /healthz, without auth: 200 when PostgreSQL and the blob store both answer, else 503. */
export const healthRoute = ({ db, blobs }: { db: SqlExecutor; blobs: BlobStore }): express.Router =>
  express.Router().get('/healthz', async (_req, res) => {
    const [postgres, blobStore] = await Promise.all([probe(() => db.query('SELECT 1')), probe(() => blobs.ping())]);
    const healthy = postgres === 'ok' && blobStore === 'ok';
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unavailable', postgres, blobs: blobStore });
  });
