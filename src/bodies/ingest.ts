import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
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
  readonly tmpDir: string;
}

/** Why a body is not stored. */
export type BodyError =
  | { readonly type: 'EmptyBody' }
  | { readonly type: 'TooLarge'; readonly limit: number }
  | { readonly type: 'InvalidContentMd5' }
  | { readonly type: 'ContentMd5Mismatch'; readonly declared: string; readonly actual: string }
  | { readonly type: 'InvalidState'; readonly reason: string };

export interface Declared {
  readonly length?: number | undefined;
  /** A Content-MD5 header as received, if any. */
  readonly contentMd5?: string | undefined;
}

const BASE64_MD5 = /^[A-Za-z0-9+/]{22}==$/;

/** Checks a Content-MD5 header (if any) against the body's digest. */
export const checkContentMd5 = (declared: string | undefined, actualBase64: string): E.Either<BodyError, void> => {
  if (declared === undefined) return E.right(undefined);
  const value = declared.trim();
  if (!BASE64_MD5.test(value)) return E.left({ type: 'InvalidContentMd5' });
  return value === actualBase64 ? E.right(undefined) : E.left({ type: 'ContentMd5Mismatch', declared: value, actual: actualBase64 });
};

/**
 * Streams a state body to a temporary file while hashing, size-checking and validating it, so a
 * body of hundreds of MB never sits in memory. Nothing is kept unless it all checks out.
 */
export const ingestState = async (source: Readable, declared: Declared, limits: BodyLimits): Promise<E.Either<BodyError, IngestedState>> => {
  const tooLarge: BodyError = { type: 'TooLarge', limit: limits.maxBytes };
  if ((declared.length ?? 0) > limits.maxBytes) return E.left(tooLarge);

  const file = path.join(limits.tmpDir, `state-${randomUUID()}`);
  const out = createWriteStream(file);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  const inspector = new StateDocumentInspector();
  let size = 0;

  const outcome = await new Promise<'complete' | 'too-large'>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBytes) {
        source.off('data', onData);
        source.pause(); // an HTTP response goes out with Connection: close; the rest is never read
        return resolve('too-large');
      }
      sha256.update(chunk);
      md5.update(chunk);
      inspector.write(chunk);
      if (!out.write(chunk)) {
        source.pause();
        out.once('drain', () => source.resume());
      }
    };
    source.on('data', onData);
    source.once('end', () => resolve('complete'));
    // 'close' without 'end' first: the sender went away mid-body (a no-op once resolved).
    source.once('close', () => reject(new Error('the body ended before it was complete')));
    source.once('error', reject);
    out.once('error', reject);
  })
    .finally(() => new Promise((resolve) => out.end(resolve)))
    .catch(async (error: unknown) => {
      await fs.rm(file, { force: true });
      throw error;
    });

  const discard = async <A>(result: E.Either<BodyError, A>) => {
    await fs.rm(file, { force: true });
    return result;
  };
  if (outcome === 'too-large') return discard(E.left(tooLarge));
  if (size === 0) return discard(E.left({ type: 'EmptyBody' }));
  const md5Base64 = md5.digest('base64');
  const md5Check = checkContentMd5(declared.contentMd5, md5Base64);
  if (E.isLeft(md5Check)) return discard(md5Check);
  const summary = inspector.finish();
  if (typeof summary === 'string') return discard(E.left({ type: 'InvalidState', reason: summary }));
  return E.right({ ...summary, file, size, sha256: sha256.digest('hex'), md5: md5Base64 });
};
