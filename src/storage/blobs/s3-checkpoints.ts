import * as Minio from 'minio';
import { DependencyFailure } from '../failures.js';
import { CHECKPOINT_PREFIX, checkpointKey, isCheckpointName, type BlobStore } from './blob-store.js';

/** Retention we give a checkpoint ourselves, when the bucket has object lock but no default rule. */
export const CHECKPOINT_RETENTION_DAYS = 3650;

/** How this bucket keeps checkpoints: its default retention locks them, we lock each, or nothing can. */
export type CheckpointLocking = 'bucket default' | 'per object' | 'unsupported';

/**
 * Reads a bucket's object-lock configuration. Some S3 servers (OpenStack Swift's s3api) answer
 * an empty configuration and accept retention headers without applying them: only an explicit
 * `Enabled` counts.
 */
export const checkpointLocking = (config: { objectLockEnabled?: string; mode?: string } | undefined): CheckpointLocking => {
  if (config?.objectLockEnabled !== 'Enabled') return 'unsupported';
  return config.mode === undefined ? 'per object' : 'bucket default';
};

const unavailable = (what: string, cause: unknown): DependencyFailure =>
  new DependencyFailure({ dependency: 'object store', problem: 'unavailable' }, `the object store failed to ${what}: ${(cause as Error)?.message ?? String(cause)}`, { cause });

const guarded = async <A>(what: string, call: () => Promise<A>): Promise<A> => {
  try {
    return await call();
  } catch (error) {
    throw error instanceof DependencyFailure ? error : unavailable(what, error);
  }
};

/**
 * Checkpoints in the bucket, under their own prefix. Whether the bucket supports object lock is
 * asked at the first write and remembered; an answer the server could not give (a timeout) is not.
 */
export const s3Checkpoints = (client: Minio.Client, bucket: string): Pick<BlobStore, 'putCheckpoint' | 'listCheckpoints'> => {
  let locking: CheckpointLocking | undefined;
  const lockingOfBucket = async (): Promise<CheckpointLocking> => {
    if (locking !== undefined) return locking;
    // Its typings pick the callback overload's void for a one-argument call; it returns a promise.
    const asked = client.getObjectLockConfig(bucket) as unknown as Promise<Minio.ObjectLockInfo>;
    const config = await asked.catch((error: unknown) => {
      // An S3 error answer (no lock configuration, not implemented) is an answer: no object lock.
      if (error instanceof Minio.S3Error) return undefined;
      throw unavailable('read the bucket object-lock configuration', error);
    });
    locking = checkpointLocking(config);
    return locking;
  };

  return {
    putCheckpoint: async (name, bytes) => {
      if (!isCheckpointName(name)) throw new Error(`not a checkpoint name: ${JSON.stringify(name)}`);
      const mode = await lockingOfBucket();
      const key = checkpointKey(name);
      const stored = await guarded('store a checkpoint', () => client.putObject(bucket, key, bytes, bytes.length, { 'Content-Type': 'application/json' }));
      if (mode === 'per object') {
        // minio's putObject cannot send object-lock headers: lock that version right after, the documented way.
        const retainUntilDate = new Date(Date.now() + CHECKPOINT_RETENTION_DAYS * 86_400_000).toISOString();
        const retention = { mode: Minio.RETENTION_MODES.GOVERNANCE, retainUntilDate, versionId: stored.versionId ?? '' };
        await guarded('lock a checkpoint', () => client.putObjectRetention(bucket, key, retention));
      }
      return { writeOnce: mode !== 'unsupported' };
    },
    listCheckpoints: () =>
      guarded('list checkpoints', async () => {
        const names: string[] = [];
        for await (const item of client.listObjectsV2(bucket, CHECKPOINT_PREFIX, true)) {
          const name = (item as { name?: string }).name?.slice(CHECKPOINT_PREFIX.length);
          if (name !== undefined && isCheckpointName(name)) names.push(name);
        }
        return names.sort();
      }),
  };
};
