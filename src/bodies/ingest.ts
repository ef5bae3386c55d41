import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as E from 'fp-ts/lib/Either.js';
import type { BlobSource } from '../storage/blobs/blob-store.js';
import type { BodyError } from './body-error.js';
import { BodyFile } from './body-file.js';
import { BodyInspection, type Inspected } from './body-inspection.js';
import { Coalesce } from './coalesce.js';

export { checkContentMd5 } from './body-inspection.js';

/**
 * A body as it arrived, not yet checked: its exact bytes (in memory when small, else in a private
 * temporary file that discardBody removes), size and SHA-256, its content address.
 */
export type ReceivedBody = BlobSource;

/** A body that was checked: a state document, and its MD5 if the request declared one to check. */
export type IngestedState = ReceivedBody & Inspected;

export interface BodyLimits {
  readonly maxBytes: number;
  /** A folder only this server can read: bodies hold secrets. */
  readonly tmpDir: string;
  /** A body that sends no byte for this long is dropped (a stalled client must not hold a slot). */
  readonly idleTimeoutMs: number;
}

export interface Declared {
  readonly length?: number | undefined;
  /** A Content-MD5 header as received, if any. */
  readonly contentMd5?: string | undefined;
}

/**
 * How much of an oversized body is read and thrown away so the client sees the 413 rather than a
 * connection reset (which it would retry); beyond this the connection is simply closed.
 */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * A body that declares at most this many bytes is kept in memory: most states are this small, and
 * a temporary file costs a few ms per push. Bounded by the number of uploads at once (MAX_UPLOADS).
 */
export const IN_MEMORY_LIMIT = 2 * 1024 * 1024;

/** A larger body goes to its file in blocks this size (the file's write buffer is as large). */
const FILE_BLOCK_BYTES = 1024 * 1024;

/**
 * Small bodies are checked as they arrive, while the next chunk is on its way (their chunks pass
 * by in memory anyway); inspectBody then answers from here.
 */
const checkedOnArrival = new WeakMap<ReceivedBody, BodyInspection>();

class DrainLimitExceeded extends Error {}
class BodyStalled extends Error {}

/** Keeps a small body's chunks in memory. */
class MemoryBody extends Writable {
  private readonly chunks: Buffer[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    done();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Removes a received body's temporary file, if it has one. */
export const discardBody = async (body: ReceivedBody): Promise<void> => {
  if (body.kind === 'file') await fs.rm(body.path, { force: true });
};

/**
 * Takes in a body while hashing (SHA-256, its content address) and size-checking it: a small one
 * in memory, a larger one streamed to a private temporary file, so hundreds of MB never sit in
 * memory. Nothing is kept unless it all arrived, and a file body is only reported complete once
 * every byte is on disk. Checking the bytes is inspectBody's part, so that it can overlap the upload
 * (a small body is checked on its way in, as that costs nothing more).
 */
export const receiveBody = async (source: Readable, declared: Declared, limits: BodyLimits): Promise<E.Either<BodyError, ReceivedBody>> => {
  const tooLarge: BodyError = { type: 'TooLarge', limit: limits.maxBytes };
  if ((declared.length ?? 0) > limits.maxBytes + DRAIN_LIMIT) return E.left(tooLarge);

  // The length a request declares is the length it has (Node's parser holds it to it); without one, a file.
  const inMemory = declared.length !== undefined && declared.length <= IN_MEMORY_LIMIT;
  const out = inMemory ? new MemoryBody() : new BodyFile(path.join(limits.tmpDir, `state-${randomUUID()}`));
  const inspection = inMemory ? new BodyInspection(declared.contentMd5) : undefined;
  const discard = () => (out instanceof BodyFile ? fs.rm(out.path, { force: true }) : Promise.resolve());
  const sha256 = createHash('sha256');
  let size = 0;
  let idle: NodeJS.Timeout | undefined;
  const watch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => meter.destroy(new BodyStalled()), limits.idleTimeoutMs);
  };
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      watch();
      size += chunk.length;
      if (size > limits.maxBytes + DRAIN_LIMIT) return done(new DrainLimitExceeded());
      if (size > limits.maxBytes) return done(); // over the limit: read on, keep nothing
      sha256.update(chunk);
      inspection?.write(chunk);
      done(null, chunk);
    },
  });
  try {
    watch();
    // Rejects if the sender goes away (even before this call); resolves once all is flushed.
    await (out instanceof BodyFile ? pipeline(source, meter, new Coalesce(FILE_BLOCK_BYTES), out) : pipeline(source, meter, out));
    if (out instanceof BodyFile && out.failure !== undefined) throw out.failure; // the disk failed: the body was read to its end for the answer
  } catch (error) {
    await discard();
    if (error instanceof DrainLimitExceeded) return E.left(tooLarge);
    if (error instanceof BodyStalled) return E.left({ type: 'BodyStalled', idleMs: limits.idleTimeoutMs });
    throw error;
  } finally {
    clearTimeout(idle);
  }

  if (size > limits.maxBytes || size === 0) {
    await discard();
    return E.left(size === 0 ? { type: 'EmptyBody' } : tooLarge);
  }
  if (out instanceof MemoryBody) {
    const body: ReceivedBody = { kind: 'memory', bytes: out.bytes(), size, sha256: sha256.digest('hex') };
    if (inspection !== undefined) checkedOnArrival.set(body, inspection);
    return E.right(body);
  }
  if (out.bytesWritten !== size) {
    await discard();
    throw new Error(`wrote ${out.bytesWritten} of ${size} bytes to ${out.path}`);
  }
  return E.right({ kind: 'file', path: out.path, size, sha256: sha256.digest('hex') });
};

const chunksOf = (body: ReceivedBody): Iterable<Buffer> | AsyncIterable<Buffer> =>
  body.kind === 'memory' ? [body.bytes] : createReadStream(body.path, { highWaterMark: 1 << 20 });

/** Checks a received body (see BodyInspection), reading it from its file unless it was checked on arrival. */
export const inspectBody = async (body: ReceivedBody, declared: Declared): Promise<E.Either<BodyError, IngestedState>> => {
  let inspection = checkedOnArrival.get(body);
  checkedOnArrival.delete(body);
  if (inspection === undefined) {
    inspection = new BodyInspection(declared.contentMd5);
    for await (const chunk of chunksOf(body)) inspection.write(chunk as Buffer);
  }
  return E.map((inspected: Inspected): IngestedState => ({ ...body, ...inspected }))(inspection.finish());
};

/**
 * Receives and then checks a body, one after the other; the caller removes it with discardBody.
 * A push overlaps the check with the upload instead (see withInspectedBody).
 */
export const ingestState = async (source: Readable, declared: Declared, limits: BodyLimits): Promise<E.Either<BodyError, IngestedState>> => {
  const received = await receiveBody(source, declared, limits);
  if (E.isLeft(received)) return received;
  const inspected = await inspectBody(received.right, declared).catch(async (error: unknown) => {
    await discardBody(received.right);
    throw error;
  });
  if (E.isLeft(inspected)) await discardBody(received.right);
  return inspected;
};
