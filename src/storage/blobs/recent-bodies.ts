import { Readable } from 'node:stream';
import type { BlobSource, BlobStore, PendingUpload } from './blob-store.js';

export interface RecentBodiesOptions {
  /** Bytes of bodies kept at most; the oldest go first. */
  readonly maxBytes: number;
  /** How long a body is kept after it was stored. */
  readonly forMs: number;
  /** Whether bodies stored now are worth keeping (this process runs a projection that reads them). */
  readonly wanted: () => boolean;
}

/** One memory of bodies just stored, seen through two faces of the same store. */
export interface RecentBodies {
  /** The store, keeping in memory each body it stored from memory, once its upload committed. */
  remembering(store: BlobStore): BlobStore;
  /** The store, reading a body kept in memory from there instead. */
  reading(store: BlobStore): BlobStore;
}

/**
 * The asynchronous projections read every pushed body right after its push commits. A body of up to
 * 2 MiB was in this process's memory a moment before (bodies are received in memory up to that
 * size), so reading it back from the object store costs a download and the store's own work for
 * bytes already here. Bodies are content-addressed and were hashed as they arrived, so the bytes
 * kept are exactly the stored ones; readers check the hash again all the same. Larger bodies are
 * received in files, which are gone after the push, and are read from the store as before.
 */
export const recentBodies = (options: RecentBodiesOptions): RecentBodies => {
  const kept = new Map<string, { readonly bytes: Buffer; readonly timer: NodeJS.Timeout }>();
  let keptBytes = 0;
  const forget = (key: string) => {
    const entry = kept.get(key);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    kept.delete(key);
    keptBytes -= entry.bytes.length;
  };
  const keep = (key: string, source: BlobSource) => {
    if (source.kind !== 'memory' || source.size > options.maxBytes || !options.wanted()) return;
    forget(key);
    for (const oldest of kept.keys()) {
      if (keptBytes + source.size <= options.maxBytes) break;
      forget(oldest);
    }
    const timer = setTimeout(() => forget(key), options.forMs).unref();
    kept.set(key, { bytes: source.bytes, timer });
    keptBytes += source.size;
  };
  return {
    remembering: (store) => ({
      ...store,
      upload: (key, source): PendingUpload => {
        const pending = store.upload(key, source);
        return {
          commit: async () => {
            await pending.commit();
            keep(key, source);
          },
          abandon: () => pending.abandon(),
        };
      },
      delete: async (key) => {
        forget(key);
        await store.delete(key);
      },
    }),
    reading: (store) => ({
      ...store,
      get: async (key) => {
        const entry = kept.get(key);
        return entry === undefined ? store.get(key) : Readable.from([entry.bytes], { objectMode: false });
      },
    }),
  };
};
