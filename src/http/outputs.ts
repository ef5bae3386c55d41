import { createHash } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { outputsDocument, outputsValue, type OutputsRefusal } from '../bodies/outputs-document.js';
import type { Logger } from '../logger.js';
import { currentBody, findVersionRecord, type BodyRef } from '../projections/queries.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import { logDenial, reaches, requireRole } from './access-control.js';
import { decodeRequest, decodeStateParams, noQuery } from './codecs.js';
import { notFound, sendError, type HttpError } from './errors.js';

/** An encrypted state has no outputs the server can read: an `outputs`-only caller is refused it (403), a reader told why (422). */
const refusalError = (name: string, refusal: OutputsRefusal, mayRead: boolean): HttpError => {
  switch (refusal.kind) {
    case 'encrypted':
      return mayRead
        ? { type: 'Unprocessable', code: 'encrypted_state', message: `state ${name} is encrypted with OpenTofu's state encryption: the server cannot read its outputs; read the whole state instead` }
        : { type: 'Forbidden', message: `state ${name} is encrypted with OpenTofu's state encryption: the server cannot read its outputs, so reading it needs the read role` };
    case 'too_large':
      return { type: 'Unprocessable', code: 'outputs_too_large', message: `the outputs of state ${name} are larger than ${refusal.limit} bytes; reading them needs the read role and the whole state` };
    case 'unreadable':
      return { type: 'Unprocessable', code: 'unreadable_state', message: `the current version of state ${name} cannot be read: ${refusal.reason}` };
  }
};

/** Reads a stored body with `read` (the outputs document, or the outputs value alone). */
const readStored = async (blobs: BlobStore, body: BodyRef, read: typeof outputsDocument): Promise<E.Either<OutputsRefusal, Buffer>> => {
  const stream = await blobs.get(body.blob_key);
  if (stream === null) throw new Error(`blob ${body.blob_key} of version ${body.version} is missing from the blob store`);
  try {
    return await read(stream);
  } finally {
    stream.destroy();
  }
};

/**
 * What an `outputs`-only caller gets for GET /states/NAME: a valid state holding only the outputs
 * (sensitive ones marked as Terraform marks them), so that an unchanged `terraform_remote_state`
 * works with least privilege. No current version: the same empty 404 as for any missing state.
 */
export const sendOutputsDocument = async (req: Request, res: Response, deps: { blobs: BlobStore; logger: Logger }, name: string, body: BodyRef | undefined): Promise<void> => {
  if (body === undefined) return void res.status(404).end();
  const document = await readStored(deps.blobs, body, outputsDocument);
  if (E.isLeft(document)) return refuse(req, res, deps.logger, name, document.left);
  res.setHeader('X-State-Version', String(body.version));
  res.setHeader('Content-MD5', createHash('md5').update(document.right).digest('base64'));
  res.status(200).type('application/json').send(document.right);
};

const refuse = (req: Request, res: Response, logger: Logger, name: string, refusal: OutputsRefusal): void => {
  const mayRead = reaches(res, 'read');
  if (refusal.kind === 'encrypted' && !mayRead) logDenial(logger, req, res, 'read', name);
  sendError(res, refusalError(name, refusal, mayRead));
};

/** GET /states/NAME/outputs: the current version's outputs as JSON, for scripts and `outputs`-only callers. */
export const outputsRoutes = ({ db, blobs, logger }: { readonly db: SqlExecutor; readonly blobs: BlobStore; readonly logger: Logger }): express.Router => {
  const router = express.Router();
  router.get('/states/:name/outputs', requireRole('outputs', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { name } = input.right.params;
    const body = await currentBody(db, name);
    const version = body === undefined ? undefined : await findVersionRecord(db, name, body.version);
    if (body === undefined || version === undefined) return sendError(res, notFound(`state ${name} has no current version`));
    const outputs = await readStored(blobs, body, outputsValue);
    if (E.isLeft(outputs)) return refuse(req, res, logger, name, outputs.left);
    // The value goes out byte for byte: parsing it would round numbers beyond a double's precision.
    const head = JSON.stringify({ name, version: body.version, serial: version.serial, lineage: version.lineage });
    res.type('application/json').send(Buffer.concat([Buffer.from(`${head.slice(0, -1)},"outputs":`), outputs.right, Buffer.from('}')]));
  });
  return router;
};
