import type { Readable } from 'node:stream';

/**
 * Where state bodies live. Keys are content addresses, so storing a key again is harmless and a
 * blob never changes once written.
 */
export interface BlobStore {
  /**
   * Begins storing bytes under key. A store may send them at once (S3 does), so the upload
   * overlaps what the caller does meanwhile (checking them); nothing is readable under key until
   * the upload is committed.
   */
  upload(key: string, source: BlobSource): PendingUpload;
  /** Streams the blob's bytes, or null when there is no blob with that key. */
  get(key: string): Promise<Readable | null>;
  exists(key: string): Promise<boolean>;
  /** Resolves when the store answers; rejects with the reason otherwise. */
  ping(): Promise<void>;
  /**
   * Writes a signed checkpoint under CHECKPOINT_PREFIX, never over an existing one. `writeOnce`
   * says whether the store itself now refuses to change or delete it (a read-only file, an S3
   * object under object-lock retention) or only the unique name protects it.
   */
  putCheckpoint(name: string, bytes: Buffer): Promise<{ readonly writeOnce: boolean }>;
  /** The names of every checkpoint, in ascending order; read one with get(checkpointKey(name)). */
  listCheckpoints(): Promise<string[]>;
  /**
   * Every object whose key starts with `prefix`, streamed a page at a time (memory stays bounded
   * however many there are); the order is the store's own.
   */
  list(prefix: string): AsyncIterable<StoredObject>;
  /**
   * Removes the blob under key (deleting one that is not there is no error). Only the retention
   * code calls this, and only under the blob's guard (src/storage/blobs/blob-guards.ts).
   */
  delete(key: string): Promise<void>;
}

/** An object as a listing shows it. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** When its bytes were last written (a content key written again counts as new). */
  readonly lastModified: Date;
}

/** Whether a key is a body's content address (`sha256/ab/ab12...`), not a checkpoint or a leftover partial file. */
export const isBodyKey = (key: string): boolean => /^sha256\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/.test(key);

/**
 * Bytes to store, with their size and SHA-256 (hex; S3 is given it to check the bytes against): a
 * small body held in memory, or a larger one in a private local file.
 */
export type BlobSource = { readonly size: number; readonly sha256: string } & (
  | { readonly kind: 'memory'; readonly bytes: Buffer }
  | { readonly kind: 'file'; readonly path: string }
);

/** An upload under way. Until commit resolves, nothing is readable under its key. */
export interface PendingUpload {
  /** Resolves once every byte is durably stored and readable under the key; rejects (leaving nothing) if the upload failed. */
  commit(): Promise<void>;
  /** Gives the upload up and removes what it stored so far (best effort: see the store). Never rejects. */
  abandon(): Promise<void>;
}

/** Every body's key starts with this. */
export const BODY_PREFIX = 'sha256/';

export const blobKeyFor = (sha256Hex: string): string => `${BODY_PREFIX}${sha256Hex.slice(0, 2)}/${sha256Hex}`;

/** Checkpoints sit under their own prefix, apart from the content-addressed bodies. */
export const CHECKPOINT_PREFIX = 'checkpoints/';

export const checkpointKey = (name: string): string => `${CHECKPOINT_PREFIX}${name}`;

/** A checkpoint name is one path segment the stores can use as it is (no folders, no dot files). */
export const isCheckpointName = (name: string): boolean => /^[\w-][\w.-]*$/.test(name);
