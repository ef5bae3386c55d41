import fs from 'node:fs/promises';
import type { IngestedState } from '../bodies/ingest.js';
import type { StoredBody } from '../commands/commands.js';
import type { Handled } from '../commands/handler.js';
import { blobKeyFor, type BlobStore } from '../storage/blobs/blob-store.js';

/**
 * Writes an ingested body to the blob store under its content address (before any event refers
 * to it), runs `use` with its description, and removes the temporary file whatever happens.
 */
export const withStoredBody = async <A>(blobs: BlobStore, ingested: IngestedState, use: (body: StoredBody) => Promise<A>): Promise<A> => {
  try {
    const blobKey = blobKeyFor(ingested.sha256);
    await blobs.put(blobKey, ingested.file, ingested.size);
    return await use({
      blobKey,
      sha256: ingested.sha256,
      md5: ingested.md5,
      size: ingested.size,
      serial: ingested.serial,
      lineage: ingested.lineage,
      terraformVersion: ingested.terraformVersion,
      encrypted: ingested.encrypted,
      resourceCount: ingested.resourceCount,
      outputCount: ingested.outputCount,
    });
  } finally {
    await discardIngested(ingested);
  }
};

/** Removes an ingested body's temporary file. */
export const discardIngested = (ingested: IngestedState): Promise<void> => fs.rm(ingested.file, { force: true });

/** The version a write left current: the one it created, or the one a retry found already written. */
export const headVersion = ({ state }: Handled): number => {
  if (state.head === null) throw new Error('a write left the state without a current version');
  return state.head.version;
};
