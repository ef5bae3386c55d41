import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { sealLedger } from './checkpoints.js';
import type { SigningKey } from './signing-key.js';

export interface CheckpointWriter {
  /** Stops the timer; resolves when a checkpoint being written has finished (or failed). */
  stop(): Promise<void>;
}

/**
 * Writes a checkpoint now and then every `intervalMs`, one after the other in this process.
 * Several processes may each write theirs: names never collide and nothing is overwritten. A fault
 * of PostgreSQL or the store is logged and tried again next time; it never ends the process.
 */
export const startCheckpointWriter = (deps: {
  readonly pool: pg.Pool;
  readonly blobs: BlobStore;
  readonly key: SigningKey;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Told how each run ended (metrics): `mismatch` when the ledger no longer matches its checkpoints. */
  readonly onRun?: (outcome: 'ok' | 'mismatch' | 'failed') => void;
}): CheckpointWriter => {
  const { logger, intervalMs } = deps;
  if (intervalMs <= 0) return { stop: async () => undefined };
  let toldNotWriteOnce = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const writeOne = async (): Promise<'ok' | 'mismatch'> => {
    const sealed = await sealLedger(deps.pool, deps.blobs, deps.key, { skipUnchanged: true });
    if (E.isLeft(sealed)) {
      const refusal = sealed.left;
      if (refusal.kind === 'broken') {
        logger.error({ breaks: refusal.breaks }, 'checkpoint not written: the ledger no longer matches the last checkpoint; run `state-ledger verify`');
      } else {
        logger.error({ streams: refusal.streams }, 'checkpoint not written: streams whose head event is missing; run `state-ledger verify`');
      }
      return 'mismatch';
    }
    const { lookup } = sealed.right;
    if (lookup.rejected !== undefined) logger.error({ checkpoint: lookup.rejected.name, reason: lookup.rejected.reason }, 'a checkpoint does not hold; run `state-ledger verify`');
    if (sealed.right.kind === 'unchanged') return lookup.rejected === undefined ? 'ok' : 'mismatch';
    logger.info({ checkpoint: sealed.right.checkpoint.name, streams: sealed.right.checkpoint.streams.length }, 'checkpoint written');
    if (!sealed.right.writeOnce && !toldNotWriteOnce) {
      toldNotWriteOnce = true;
      logger.warn('checkpoints are not write-once in this store (the S3 bucket has no object lock): whoever holds its credentials can delete them; enable object lock on the bucket');
    }
    return lookup.rejected === undefined ? 'ok' : 'mismatch';
  };

  const tick = () => {
    running = writeOne()
      .then((outcome) => deps.onRun?.(outcome))
      .catch((error: unknown) => {
        logger.warn({ err: error, retryInSeconds: intervalMs / 1000 }, 'checkpoint failed; trying again later');
        deps.onRun?.('failed');
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, 0).unref();

  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
};
