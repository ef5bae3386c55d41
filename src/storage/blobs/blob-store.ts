import type { Readable } from 'node:stream';

/**
 * Where state bodies live. Keys are content addresses, so a put of a key that exists is a no-op
 * and a blob never changes once written.
 */
export interface BlobStore {
  /** Stores the bytes of a local file under key (unless a blob with that key exists). */
  put(key: string, filePath: string, size: number): Promise<void>;
  /** Streams the blob's bytes, or null when there is no blob with that key. */
  get(key: string): Promise<Readable | null>;
  exists(key: string): Promise<boolean>;
  /** Resolves when the store answers; rejects with the reason otherwise. */
  ping(): Promise<void>;
}

export const blobKeyFor = (sha256Hex: string): string => `sha256/${sha256Hex.slice(0, 2)}/${sha256Hex}`;
