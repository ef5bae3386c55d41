import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { CorruptBody, countCorruptBody, readVerified, verifyingStream, type BodyOrigin } from '../bodies/verified-stream.js';
import type { Logger } from '../logger.js';
import type { BodyRef } from '../projections/queries.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';

/** Bodies up to this size are read and checked whole before the first byte goes out. */
export const VERIFIED_IN_MEMORY_BYTES = 8 * 1024 * 1024;

/** How much of a large body may wait between the store and the socket (per request). */
const STREAM_BUFFER_BYTES = 1024 * 1024;

/**
 * Streams a stored body with the headers the clients check: Content-MD5 (Terraform verifies it,
 * when the pushing client sent one) and a content ETag, so `If-None-Match` saves re-downloading an
 * unchanged state.
 *
 * Every byte served is checked against the SHA-256 and size the ledger recorded. Bodies up to
 * VERIFIED_IN_MEMORY_BYTES are read whole and checked first: a corrupt one is refused by throwing
 * CorruptBody, which the app's error handler logs and answers 500 `corrupt_body`. Larger bodies are
 * hashed as they stream, their last chunk held back until the hash is known: a corrupt one is
 * counted and logged at error level on `logger` as soon as it is found, then cut short (the
 * connection is closed before Content-Length bytes went out) and thrown (the error handler logs
 * the request as ended early).
 */
export const sendBody = async (req: Request, res: Response, blobs: BlobStore, body: BodyRef, logger: Logger): Promise<void> => {
  const etag = `"${body.sha256}"`;
  res.setHeader('ETag', etag);
  res.setHeader('X-State-Version', String(body.version));
  if (req.get('if-none-match') === etag) {
    res.status(304).end();
    return;
  }
  const stream = await blobs.get(body.blob_key);
  if (stream === null) throw new Error(`blob ${body.blob_key} of version ${body.version} is missing from the blob store`);
  const expected = { sha256: body.sha256, size: body.size };
  const origin: BodyOrigin = { state: typeof req.params.name === 'string' ? req.params.name : undefined, version: body.version, blobKey: body.blob_key };
  const setBodyHeaders = () => {
    res.status(200);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', String(body.size));
    if (body.md5 !== null) res.setHeader('Content-MD5', body.md5);
  };

  if (body.size <= VERIFIED_IN_MEMORY_BYTES) {
    let bytes: Buffer;
    try {
      bytes = await readVerified(stream, expected, origin);
    } catch (error) {
      if (error instanceof CorruptBody) countCorruptBody();
      // The error answer (500, or 503 for a store failing mid-read) must not claim the recorded content.
      res.removeHeader('ETag');
      res.removeHeader('X-State-Version');
      throw error;
    }
    setBodyHeaders();
    res.end(bytes);
    return;
  }

  const reportCorruption = (error: CorruptBody) => {
    countCorruptBody();
    logger.error(
      {
        state: error.state,
        version: error.version,
        blob_key: error.blobKey,
        expected_sha256: error.expectedSha256,
        expected_size: error.expectedSize,
        actual_sha256: error.actualSha256,
        actual_size: error.actualSize,
        request_id: res.locals.requestId,
      },
      `${error.message}; the transfer was cut short`,
    );
  };
  setBodyHeaders();
  try {
    await pipeline(stream, verifyingStream(expected, origin, { highWaterMark: STREAM_BUFFER_BYTES, onCorrupt: reportCorruption }), res);
  } catch (error) {
    // pipeline has destroyed the response already: a corrupt body never ends as a complete answer.
    if (error instanceof CorruptBody) res.destroy();
    throw error;
  }
};
