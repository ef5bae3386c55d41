import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { BodyRef } from '../projections/queries.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';

/**
 * Streams a stored body with the headers the clients check: Content-MD5 (Terraform verifies it)
 * and a content ETag, so `If-None-Match` saves re-downloading an unchanged state.
 */
export const sendBody = async (req: Request, res: Response, blobs: BlobStore, body: BodyRef): Promise<void> => {
  const etag = `"${body.sha256}"`;
  res.setHeader('ETag', etag);
  res.setHeader('X-State-Version', String(body.version));
  if (req.get('if-none-match') === etag) {
    res.status(304).end();
    return;
  }
  const stream = await blobs.get(body.blob_key);
  if (stream === null) throw new Error(`blob ${body.blob_key} of version ${body.version} is missing from the blob store`);
  res.status(200);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', String(body.size));
  res.setHeader('Content-MD5', body.md5);
  await pipeline(stream, res);
};
