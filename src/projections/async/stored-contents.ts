import { createHash } from 'node:crypto';
import { readStateContents, type ContentsReading } from '../../bodies/contents-document.js';
import type { BlobStore } from '../../storage/blobs/blob-store.js';

/**
 * A stored body read as contents, with its SHA-256 checked once it was read whole: a body whose
 * bytes changed is read as unreadable, never as what it now says.
 */
export const readStoredContents = async (blobs: BlobStore, key: string, sha256: string): Promise<ContentsReading> => {
  const stream = await blobs.get(key);
  if (stream === null) return { kind: 'unreadable', reason: `its body ${key} is not in the blob store` };
  const hash = createHash('sha256');
  let whole = false;
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      yield chunk;
    }
    whole = true;
  }
  const reading = await readStateContents(hashed());
  if (!whole) stream?.destroy();
  if (whole && hash.digest('hex') !== sha256) return { kind: 'unreadable', reason: `its body ${key} no longer matches its sha256` };
  return reading;
};
