import { createHash } from 'node:crypto';
import { readStateContents, type ContentsReading } from '../../bodies/contents-document.js';
import type { RecordedEvent } from '../../events/events.js';
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

/** Bodies read at once while a batch is prepared: the blob store's latency is paid this many times less on a catch-up. */
const READ_AHEAD = 4;

/** `work` on each item, `ahead` at a time, the results in order; at most `ahead` results are held. */
async function* inOrderAhead<T, R>(items: readonly T[], ahead: number, work: (item: T) => Promise<R>): AsyncGenerator<R> {
  const pending: Array<Promise<R>> = [];
  let next = 0;
  const fill = () => {
    while (pending.length < ahead && next < items.length) {
      const result = work(items[next++]!);
      result.catch(() => undefined); // awaited in turn; one read failing must not go unhandled meanwhile
      pending.push(result);
    }
  };
  fill();
  while (pending.length > 0) {
    const result = await pending.shift()!;
    fill();
    yield result;
  }
}

/** Reads bodies as contents; `size` is the body's length, for what a reader keeps. */
export interface BodyReader {
  read(key: string, sha256: string, size: number): Promise<ContentsReading>;
}

/** How long a reading is kept for the other projections once it is done, and how many bytes of bodies at most. */
const SHARED_FOR_MS = 10_000;
const SHARED_BYTES = 64 * 1024 * 1024;

/**
 * One reader for every asynchronous projection of a process: each reads every pushed body right
 * after the push, so the first to ask reads and parses it, and the others take the same reading
 * (in flight, or done within SHARED_FOR_MS), by the body's SHA-256. The readings kept stand for at
 * most SHARED_BYTES of bodies; one of a larger body is shared only while it is being read (what is
 * read of a 500 MB state can take a hundred megabytes). A failed read is not kept, so it is tried again.
 */
export const sharedBodyReader = (blobs: BlobStore): BodyReader => {
  const kept = new Map<string, { readonly reading: Promise<ContentsReading>; readonly size: number }>();
  let keptBytes = 0;
  const forget = (sha256: string, reading: Promise<ContentsReading>) => {
    const entry = kept.get(sha256);
    if (entry?.reading !== reading) return;
    kept.delete(sha256);
    keptBytes -= entry.size;
  };
  return {
    read: (key, sha256, size) => {
      const hit = kept.get(sha256);
      if (hit !== undefined) return hit.reading;
      const reading = readStoredContents(blobs, key, sha256);
      kept.set(sha256, { reading, size });
      keptBytes += size;
      for (const [oldest, entry] of kept) {
        if (keptBytes <= SHARED_BYTES || oldest === sha256) break;
        forget(oldest, entry.reading);
      }
      reading.then(
        () => (size > SHARED_BYTES ? forget(sha256, reading) : setTimeout(() => forget(sha256, reading), SHARED_FOR_MS).unref()),
        () => forget(sha256, reading),
      );
      return reading;
    },
  };
};

/**
 * The contents of each body a batch's events refer to (StatePushed, StateRolledBack), in order,
 * read READ_AHEAD at a time; encrypted ones are not read. Call the answer once per body event.
 */
export const bodyReadings = (events: readonly RecordedEvent[], bodies: BodyReader): (() => Promise<ContentsReading>) => {
  const stored = events.flatMap((e) => (e.event.type === 'StatePushed' || e.event.type === 'StateRolledBack' ? [e.event.data] : []));
  const readings = inOrderAhead(stored, READ_AHEAD, (d) =>
    d.encrypted ? Promise.resolve<ContentsReading>({ kind: 'encrypted' }) : bodies.read(d.blob_key, d.sha256, d.size),
  );
  return async () => {
    const next = await readings.next();
    if (next.done === true) throw new Error('asked for more bodies than the batch refers to');
    return next.value;
  };
};
