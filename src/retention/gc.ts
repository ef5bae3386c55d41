import type pg from 'pg';
import { keptKeys } from '../projections/queries.js';
import { BODY_PREFIX, isBodyKey, type BlobStore, type StoredObject } from '../storage/blobs/blob-store.js';
import { deleteUnreferencedBlob } from '../storage/blobs/blob-guards.js';

export interface GcDeps {
  readonly pool: pg.Pool;
  readonly blobs: BlobStore;
}

export interface GcReport {
  readonly dryRun: boolean;
  /** Bodies listed in the store. */
  readonly examined: number;
  /** Left alone because they were written within the grace period. */
  readonly fresh: number;
  /** Deleted (or, in a dry run, that would be): written before the grace period and referred to by no kept version. */
  readonly removed: ReadonlyArray<{ readonly key: string; readonly size: number; readonly lastModified: Date }>;
  readonly bytesSaved: number;
}

const BATCH = 500;

/**
 * Sweeps the blob store: deletes every body that no kept version of any state refers to (left by
 * failed or refused pushes, or by versions pruned while a write claimed their bytes) once it is
 * older than the grace period, judged by the object's last-modified time. The listing streams, and
 * bodies are checked against PostgreSQL a batch at a time; each deletion is decided again under
 * the key's guard (blob-guards.ts), so a push of the same bytes at that moment is never lost.
 */
export const collectGarbage = async (deps: GcDeps, options: { readonly now: Date; readonly graceSeconds: number; readonly dryRun: boolean }): Promise<GcReport> => {
  const cutoff = options.now.getTime() - options.graceSeconds * 1000;
  const removed: Array<{ key: string; size: number; lastModified: Date }> = [];
  let examined = 0;
  let fresh = 0;
  const sweep = async (batch: readonly StoredObject[]) => {
    const kept = await keptKeys(deps.pool, batch.map((object) => object.key));
    for (const object of batch) {
      if (kept.has(object.key)) continue;
      const outcome = await deleteUnreferencedBlob(deps.pool, deps.blobs, object.key, { dryRun: options.dryRun });
      if (outcome === 'deleted') removed.push({ key: object.key, size: object.size, lastModified: object.lastModified });
    }
  };
  let batch: StoredObject[] = [];
  for await (const object of deps.blobs.list(BODY_PREFIX)) {
    if (!isBodyKey(object.key)) continue;
    examined++;
    if (object.lastModified.getTime() > cutoff) {
      fresh++;
      continue;
    }
    batch.push(object);
    if (batch.length === BATCH) {
      await sweep(batch);
      batch = [];
    }
  }
  await sweep(batch);
  return { dryRun: options.dryRun, examined, fresh, removed, bytesSaved: removed.reduce((sum, r) => sum + r.size, 0) };
};
