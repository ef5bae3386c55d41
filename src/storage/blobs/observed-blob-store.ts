import type { BlobSource, BlobStore, PendingUpload } from './blob-store.js';

/** The blob store's operations as an observer sees them; an upload is timed from its start to its commit. */
export type BlobOperation = 'upload' | 'get' | 'exists' | 'ping' | 'putCheckpoint' | 'listCheckpoints' | 'list' | 'delete';

/** Told how long each operation took and whether it failed (a rejection). Must not throw. */
export type BlobObserver = (operation: BlobOperation, seconds: number, failed: boolean) => void;

const since = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * The store, timing every operation for `observe`. Results and failures pass through unchanged;
 * the time of a `get` is the time to the first byte (the stream's bytes are the reader's pace).
 */
export const observedBlobStore = (store: BlobStore, observe: BlobObserver): BlobStore => {
  const tell = (operation: BlobOperation, start: bigint, failed: boolean) => {
    try {
      observe(operation, since(start), failed);
    } catch {
      // an observer's bug is not the store's failure
    }
  };
  const timed =
    <A extends unknown[], R>(operation: BlobOperation, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = process.hrtime.bigint();
      try {
        const result = await call(...args);
        tell(operation, start, false);
        return result;
      } catch (error) {
        tell(operation, start, true);
        throw error;
      }
    };
  return {
    upload: (key: string, source: BlobSource): PendingUpload => {
      const start = process.hrtime.bigint();
      let pending: PendingUpload;
      try {
        pending = store.upload(key, source);
      } catch (error) {
        tell('upload', start, true);
        throw error;
      }
      return {
        commit: async () => {
          try {
            await pending.commit();
            tell('upload', start, false);
          } catch (error) {
            tell('upload', start, true);
            throw error;
          }
        },
        abandon: () => pending.abandon(),
      };
    },
    get: timed('get', (key: string) => store.get(key)),
    exists: timed('exists', (key: string) => store.exists(key)),
    ping: timed('ping', () => store.ping()),
    putCheckpoint: timed('putCheckpoint', (name: string, bytes: Buffer) => store.putCheckpoint(name, bytes)),
    listCheckpoints: timed('listCheckpoints', () => store.listCheckpoints()),
    // A listing is timed from its start to its last page (or its failure), not per object.
    list: async function* (prefix: string) {
      const start = process.hrtime.bigint();
      try {
        yield* store.list(prefix);
        tell('list', start, false);
      } catch (error) {
        tell('list', start, true);
        throw error;
      }
    },
    delete: timed('delete', (key: string) => store.delete(key)),
  };
};
