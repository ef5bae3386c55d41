import { Readable } from 'node:stream';
import type { BlobSource, BlobStore, PendingUpload } from './blob-store.js';

/** Where bodies just stored are told to: a memory in this process, or one in the projections' process. */
export interface StoredBodies {
  /** A body stored from memory, once its upload committed. */
  keep(key: string, bytes: Buffer): void;
  /** A body deleted from the store. */
  forget(key: string): void;
}

/**
 * The store, telling `to` of each body it stored from memory (and of each it deleted), while
 * `wanted` says a projection reads them.
 */
export const announcingStored = (store: BlobStore, to: StoredBodies, wanted: () => boolean): BlobStore => ({
  ...store,
  upload: (key: string, source: BlobSource): PendingUpload => {
    const pending = store.upload(key, source);
    return {
      commit: async () => {
        await pending.commit();
        if (source.kind === 'memory' && wanted()) to.keep(key, source.bytes);
      },
      abandon: () => pending.abandon(),
    };
  },
  delete: async (key) => {
    to.forget(key);
    await store.delete(key);
  },
});

export interface RecentBodiesOptions {
  /** Bytes of bodies kept at most; the oldest go first. */
  readonly maxBytes: number;
  /** How long a body is kept after it was stored. */
  readonly forMs: number;
}

/** A memory of bodies just stored, and the store seen through it. */
export interface RecentBodies extends StoredBodies {
  /** The store, reading a body kept in memory from there instead. */
  reading(store: BlobStore): BlobStore;
}

/**
 * The asynchronous projections read every pushed body right after its push commits. A body of up to
 * 2 MiB was in the serving process's memory a moment before (bodies are received in memory up to
 * that size), so reading it back from the object store costs a download and the store's own work
 * for bytes already here. Bodies are content-addressed and were hashed as they arrived, so the
 * bytes kept are exactly the stored ones; readers check the hash again all the same. Larger bodies
 * are received in files, which are gone after the push, and are read from the store as before.
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
  const keep = (key: string, bytes: Buffer) => {
    if (bytes.length > options.maxBytes) return;
    forget(key);
    for (const oldest of kept.keys()) {
      if (keptBytes + bytes.length <= options.maxBytes) break;
      forget(oldest);
    }
    const timer = setTimeout(() => forget(key), options.forMs).unref();
    kept.set(key, { bytes, timer });
    keptBytes += bytes.length;
  };
  return {
    keep,
    forget,
    reading: (store) => ({
      ...store,
      get: async (key) => {
        const entry = kept.get(key);
        return entry === undefined ? store.get(key) : Readable.from([entry.bytes], { objectMode: false });
      },
    }),
  };
};
