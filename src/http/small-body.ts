import { createHash } from 'node:crypto';
import express, { type Request, type RequestHandler } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { checkContentMd5 } from '../bodies/ingest.js';
import { badRequest, type HttpError } from './errors.js';
import { receiveWithin } from './guards.js';

/** Lock infos and rollback requests are small: read whole, within a deadline. */
export const SMALL_BODY_LIMIT = 64 * 1024;

export const smallBody = (requestTimeoutMs: number): RequestHandler[] => [
  receiveWithin(requestTimeoutMs),
  express.raw({ type: () => true, limit: SMALL_BODY_LIMIT }),
];

// ignoreBOM: a byte order mark is kept, so JSON.parse refuses it as it refuses one in a state body.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body as JSON (undefined when empty), MD5-checked as the clients send it. Text must be valid
 * UTF-8: a lenient decoder would store a lock ID the client never sent.
 */
export const readSmallJson = (req: Request): E.Either<HttpError, unknown> => {
  const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const md5 = checkContentMd5(req.get('content-md5'), createHash('md5').update(raw).digest('base64'));
  if (E.isLeft(md5)) return md5;
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    return E.left(badRequest('invalid_utf8', 'the body must be UTF-8 text'));
  }
  if (text.trim() === '') return E.right(undefined);
  try {
    return E.right(JSON.parse(text) as unknown);
  } catch {
    return E.left(badRequest('invalid_json', 'the body is not valid JSON'));
  }
};
