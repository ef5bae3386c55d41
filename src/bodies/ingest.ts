import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as E from 'fp-ts/lib/Either.js';
import { BodyFile } from './body-file.js';
import { StateDocumentInspector, type StateSummary } from './state-document.js';

export interface IngestedState extends StateSummary {
  /** A temporary file holding the exact bytes; the caller removes it. */
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
  /** Base64, as Content-MD5 carries it. */
  readonly md5: string;
}

export interface BodyLimits {
  readonly maxBytes: number;
  /** A folder only this server can read: bodies hold secrets. */
  readonly tmpDir: string;
  /** A body that sends no byte for this long is dropped (a stalled client must not hold a slot). */
  readonly idleTimeoutMs: number;
}

/** Why a body is not stored. */
export type BodyError =
  | { readonly type: 'EmptyBody' }
  | { readonly type: 'TooLarge'; readonly limit: number }
  | { readonly type: 'BodyStalled'; readonly idleMs: number }
  | { readonly type: 'InvalidContentMd5' }
  | { readonly type: 'ContentMd5Mismatch'; readonly declared: string; readonly actual: string }
  | { readonly type: 'InvalidState'; readonly reason: string };

export interface Declared {
  readonly length?: number | undefined;
  /** A Content-MD5 header as received, if any. */
  readonly contentMd5?: string | undefined;
}

const BASE64_MD5 = /^[A-Za-z0-9+/]{22}==$/;

/**
 * How much of an oversized body is read and thrown away so the client sees the 413 rather than a
 * connection reset (which it would retry); beyond this the connection is simply closed.
 */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/** Checks a Content-MD5 header (if any) against the body's digest. */
export const checkContentMd5 = (declared: string | undefined, actualBase64: string): E.Either<BodyError, void> => {
  if (declared === undefined) return E.right(undefined);
  const value = declared.trim();
  if (!BASE64_MD5.test(value)) return E.left({ type: 'InvalidContentMd5' });
  return value === actualBase64 ? E.right(undefined) : E.left({ type: 'ContentMd5Mismatch', declared: value, actual: actualBase64 });
};

class DrainLimitExceeded extends Error {}
class BodyStalled extends Error {}

/**
 * Streams a state body to a temporary file while hashing, size-checking and validating it, so a
 * body of hundreds of MB never sits in memory. Nothing is kept unless it all checks out, and a
 * body is only reported complete once every byte is on disk.
 */
export const ingestState = async (source: Readable, declared: Declared, limits: BodyLimits): Promise<E.Either<BodyError, IngestedState>> => {
  const tooLarge: BodyError = { type: 'TooLarge', limit: limits.maxBytes };
  if ((declared.length ?? 0) > limits.maxBytes + DRAIN_LIMIT) return E.left(tooLarge);

  const file = path.join(limits.tmpDir, `state-${randomUUID()}`);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  const inspector = new StateDocumentInspector();
  let size = 0;
  let idle: NodeJS.Timeout | undefined;
  const watch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => inspect.destroy(new BodyStalled()), limits.idleTimeoutMs);
  };
  const inspect = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      watch();
      size += chunk.length;
      if (size > limits.maxBytes + DRAIN_LIMIT) return done(new DrainLimitExceeded());
      if (size > limits.maxBytes) return done(); // over the limit: read on, keep nothing
      sha256.update(chunk);
      md5.update(chunk);
      inspector.write(chunk);
      done(null, chunk);
    },
  });
  const out = new BodyFile(file);
  try {
    watch();
    // Rejects if the sender goes away (even before this call); resolves once all is flushed.
    await pipeline(source, inspect, out);
    if (out.failure !== undefined) throw out.failure; // the disk failed: the body was read to its end for the answer
  } catch (error) {
    await fs.rm(file, { force: true });
    if (error instanceof DrainLimitExceeded) return E.left(tooLarge);
    if (error instanceof BodyStalled) return E.left({ type: 'BodyStalled', idleMs: limits.idleTimeoutMs });
    throw error;
  } finally {
    clearTimeout(idle);
  }

  const discard = async <A>(result: E.Either<BodyError, A>) => {
    await fs.rm(file, { force: true });
    return result;
  };
  if (size > limits.maxBytes) return discard(E.left(tooLarge));
  if (size === 0) return discard(E.left({ type: 'EmptyBody' }));
  if (out.bytesWritten !== size) {
    await fs.rm(file, { force: true });
    throw new Error(`wrote ${out.bytesWritten} of ${size} bytes to ${file}`);
  }
  const md5Base64 = md5.digest('base64');
  const md5Check = checkContentMd5(declared.contentMd5, md5Base64);
  if (E.isLeft(md5Check)) return discard(md5Check);
  const summary = inspector.finish();
  if (typeof summary === 'string') return discard(E.left({ type: 'InvalidState', reason: summary }));
  return E.right({ ...summary, file, size, sha256: sha256.digest('hex'), md5: md5Base64 });
};
