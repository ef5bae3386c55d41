import * as E from 'fp-ts/lib/Either.js';
import type { BodyError } from '../bodies/body-error.js';
import { discardBody, inspectBody, type Declared, type IngestedState, type ReceivedBody } from '../bodies/ingest.js';
import type { StoredBody } from '../commands/commands.js';
import type { Handled } from '../commands/handler.js';
import { blobKeyFor, type BlobStore } from '../storage/blobs/blob-store.js';
import { claimBlob } from '../storage/blobs/blob-guards.js';
import type { SqlExecutor } from '../storage/sql.js';

/** Where a body goes: the blob store, and the database that guards its key against a concurrent deletion. */
export interface BodyTarget {
  readonly blobs: BlobStore;
  readonly db: SqlExecutor;
}

const storedBody = (blobKey: string, body: IngestedState): StoredBody => ({
  blobKey,
  sha256: body.sha256,
  md5: body.md5,
  size: body.size,
  serial: body.serial,
  lineage: body.lineage,
  terraformVersion: body.terraformVersion,
  encrypted: body.encrypted,
  resourceCount: body.resourceCount,
  outputCount: body.outputCount,
});

/**
 * Writes an ingested body to the blob store under its content address (before any event refers
 * to it), runs `use` with its description, and removes the body's temporary file whatever happens.
 */
export const withStoredBody = async <A>({ blobs, db }: BodyTarget, ingested: IngestedState, use: (body: StoredBody) => Promise<A>): Promise<A> => {
  try {
    const blobKey = blobKeyFor(ingested.sha256);
    // Claimed before the upload, so that retention cannot delete the key between upload and event (blob-guards.ts).
    await claimBlob(db, blobKey);
    await blobs.upload(blobKey, ingested).commit();
    return await use(storedBody(blobKey, ingested));
  } finally {
    await discardBody(ingested);
  }
};

/**
 * Uploads a received body under its content address while it is checked (inspectBody), so the two
 * overlap instead of adding up. The blob becomes readable, and `use` runs, only once the check
 * passed and every byte is stored; a refused body is abandoned and leaves nothing in the store.
 * The caller removes the received body.
 */
export const withInspectedBody = async <L, A>(
  { blobs, db }: BodyTarget,
  received: ReceivedBody,
  declared: Declared,
  use: (body: StoredBody) => Promise<E.Either<L, A>>,
): Promise<E.Either<BodyError | L, A>> => {
  const blobKey = blobKeyFor(received.sha256);
  // The one extra round trip a push pays for retention: the key is claimed before any byte goes up (blob-guards.ts).
  await claimBlob(db, blobKey);
  const upload = blobs.upload(blobKey, received);
  const inspected = await inspectBody(received, declared).catch(async (error: unknown) => {
    await upload.abandon();
    throw error;
  });
  if (E.isLeft(inspected)) {
    await upload.abandon();
    return inspected;
  }
  await upload.commit();
  return use(storedBody(blobKey, inspected.right));
};

/** The version a write left current: the one it created, or the one a retry found already written. */
export const headVersion = ({ state }: Handled): number => {
  if (state.head === null) throw new Error('a write left the state without a current version');
  return state.head.version;
};
