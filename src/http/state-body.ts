import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Request } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { badRequest, type RequestError } from './errors.js';
import { StateDocumentInspector, type StateSummary } from './state-document.js';

export interface ReceivedState extends StateSummary {
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

const BASE64_MD5 = /^[A-Za-z0-9+/]{22}==$/;

/** Checks a Content-MD5 header (if any) against the body's digest. */
export const checkContentMd5 = (header: string | undefined, actualBase64: string): E.Either<RequestError, void> => {
  if (header === undefined) return E.right(undefined);
  if (!BASE64_MD5.test(header.trim())) return E.left(badRequest('invalid_content_md5', 'Content-MD5 must be a base64 MD5 digest'));
  if (header.trim() !== actualBase64) {
    return E.left(badRequest('content_md5_mismatch', `Content-MD5 is ${header.trim()} but the body's MD5 is ${actualBase64}`));
  }
  return E.right(undefined);
};

/**
 * Streams a pushed state to a temporary file while hashing, size-checking and validating it,
 * so a body of hundreds of MB never sits in memory. Nothing is stored unless it all checks out.
 */
export const receiveState = async (req: Request, limits: BodyLimits): Promise<E.Either<RequestError, ReceivedState>> => {
  const tooLarge: RequestError = { type: 'TooLarge', limit: limits.maxBytes };
  if (Number(req.headers['content-length'] ?? 0) > limits.maxBytes) return E.left(tooLarge);

  const file = path.join(limits.tmpDir, `push-${randomUUID()}`);
  const out = createWriteStream(file);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  const inspector = new StateDocumentInspector();
  let size = 0;

  const outcome = await new Promise<'complete' | 'too-large'>((resolve, reject) => {
    const stop = (reason: 'too-large') => {
      req.off('data', onData);
      req.pause(); // the response goes out with Connection: close; the rest is never read
      resolve(reason);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBytes) return stop('too-large');
      sha256.update(chunk);
      md5.update(chunk);
      inspector.write(chunk);
      if (!out.write(chunk)) {
        req.pause();
        out.once('drain', () => req.resume());
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve('complete'));
    // 'close' without 'end' first: the client went away mid-body (a no-op once resolved).
    req.once('close', () => reject(new Error('the client closed the connection before the body ended')));
    req.once('error', reject);
    out.once('error', reject);
  })
    .finally(() => new Promise((resolve) => out.end(resolve)))
    .catch(async (error: unknown) => {
      await fs.rm(file, { force: true });
      throw error;
    });

  const discard = async <A>(result: E.Either<RequestError, A>) => {
    await fs.rm(file, { force: true });
    return result;
  };
  if (outcome === 'too-large') return discard(E.left(tooLarge));
  if (size === 0) return discard(E.left(badRequest('empty_body', 'the body is empty; a state push needs a JSON state')));
  const md5Base64 = md5.digest('base64');
  const md5Check = checkContentMd5(req.get('content-md5'), md5Base64);
  if (E.isLeft(md5Check)) return discard(md5Check);
  const summary = inspector.finish();
  if (typeof summary === 'string') return discard(E.left(badRequest('invalid_state', summary)));
  return E.right({ ...summary, file, size, sha256: sha256.digest('hex'), md5: md5Base64 });
};
