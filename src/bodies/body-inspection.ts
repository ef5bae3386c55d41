import { createHash, type Hash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import type { BodyError } from './body-error.js';
import { StateDocumentInspector, type StateSummary } from './state-document.js';

const BASE64_MD5 = /^[A-Za-z0-9+/]{22}==$/;

/** Checks a Content-MD5 header (if any) against the body's digest. */
export const checkContentMd5 = (declared: string | undefined, actualBase64: string): E.Either<BodyError, void> => {
  if (declared === undefined) return E.right(undefined);
  const value = declared.trim();
  if (!BASE64_MD5.test(value)) return E.left({ type: 'InvalidContentMd5' });
  return value === actualBase64 ? E.right(undefined) : E.left({ type: 'ContentMd5Mismatch', declared: value, actual: actualBase64 });
};

/** What a body that passed its checks is known to be. */
export type Inspected = StateSummary & {
  /** Base64, as Content-MD5 carries it; null when the request sent no Content-MD5 (no MD5 is computed then). */
  readonly md5: string | null;
};

/**
 * The checks a body must pass, fed its bytes in order, chunk by chunk: a state document (a
 * streaming scan, constant memory) whose MD5 matches the request's Content-MD5 header. Without
 * that header, no MD5 is computed at all.
 */
export class BodyInspection {
  private readonly declaredMd5: string | undefined;
  private readonly md5: Hash | undefined;
  private readonly document = new StateDocumentInspector();

  constructor(contentMd5: string | undefined) {
    this.declaredMd5 = contentMd5;
    this.md5 = contentMd5 !== undefined && BASE64_MD5.test(contentMd5.trim()) ? createHash('md5') : undefined;
  }

  write(chunk: Buffer): void {
    this.md5?.update(chunk);
    this.document.write(chunk);
  }

  /** The verdict, once every chunk was written; call it once. */
  finish(): E.Either<BodyError, Inspected> {
    const md5 = this.md5?.digest('base64') ?? null;
    const md5Check = checkContentMd5(this.declaredMd5, md5 ?? '');
    if (E.isLeft(md5Check)) return md5Check;
    const summary = this.document.finish();
    return typeof summary === 'string' ? E.left({ type: 'InvalidState', reason: summary }) : E.right({ ...summary, md5 });
  }
}
