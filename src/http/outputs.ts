import { createHash } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { outputsDocument, outputsValue, type OutputsRefusal } from '../bodies/outputs-document.js';
import { compactJson, findOutput, MAX_OUTPUT_NAME_BYTES, redactedOutputs, stringText } from '../bodies/output-values.js';
import type { Logger } from '../logger.js';
import { currentBody, findVersionRecord, type BodyRef } from '../projections/queries.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import { logDenial, principalOf, reaches, requireRole, roleOf } from './access-control.js';
import { decodeRequest, decodeStateParams, noQuery } from './codecs.js';
import { badRequest, notFound, sendError, type HttpError, type RequestError } from './errors.js';

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

/** An output name from the path, decoded by the router: at most MAX_OUTPUT_NAME_BYTES of UTF-8, no NUL, percent-encoded on the wire. */
const decodeOutputName = (req: Request): E.Either<RequestError, string> => {
  const name = (req.params as { output?: unknown }).output;
  // The router percent-decodes the segment (a bad escape or invalid UTF-8 is its 400). Node refuses raw
  // non-ASCII bytes in the request target; were one let through, it would read as Latin-1: refused here too.
  const raw = req.path.slice(req.path.lastIndexOf('/') + 1);
  if (typeof name !== 'string' || !/^[\x21-\x7e]*$/.test(raw)) {
    return E.left(badRequest('invalid_output_name', 'the output name must be percent-encoded UTF-8'));
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_OUTPUT_NAME_BYTES) return E.left(badRequest('invalid_output_name', `the output name must be at most ${MAX_OUTPUT_NAME_BYTES} bytes of UTF-8; got ${bytes}`));
  if (name.includes('\u0000')) return E.left(badRequest('invalid_output_name', 'the output name may not contain NUL (%00)'));
  return E.right(name);
};

/** An output name as a message may quote it: as JSON (nothing in it drives a terminal), cut after 64 characters. */
const quotedName = (name: string): string => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name);

/** Sends `parts` as one body without joining them (a value may be tens of MB). */
const sendParts = (res: Response, type: string, parts: readonly Uint8Array[]): void => {
  res.status(200).type(type);
  res.setHeader('Content-Length', String(parts.reduce((sum, part) => sum + part.length, 0)));
  for (const part of parts) res.write(part);
  res.end();
};

const NULL = Buffer.from('null');

/**
 * GET /states/NAME/outputs: the current version's outputs as JSON, sensitive values left out unless
 * the caller may read the state. GET /states/NAME/outputs/OUTPUT: one output, as JSON or (with
 * `Accept: text/plain`) its bare value for scripts.
 */
export const outputsRoutes = ({ db, blobs, logger }: { readonly db: SqlExecutor; readonly blobs: BlobStore; readonly logger: Logger }): express.Router => {
  const router = express.Router();

  /** The current version's outputs value as written, or the answer already sent. */
  const currentOutputs = async (req: Request, res: Response, name: string) => {
    const body = await currentBody(db, name);
    const version = body === undefined ? undefined : await findVersionRecord(db, name, body.version);
    if (body === undefined || version === undefined) return void sendError(res, notFound(`state ${name} has no current version`));
    const outputs = await readStored(blobs, body, outputsValue);
    if (E.isLeft(outputs)) return void refuse(req, res, logger, name, outputs.left);
    return { body, version, outputs: outputs.right };
  };

  router.get('/states/:name/outputs', requireRole('outputs', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { name } = input.right.params;
    const current = await currentOutputs(req, res, name);
    if (current === undefined) return;
    const { body, version } = current;
    // Copied byte for byte, sensitive values left out for those who may not read the state: parsing would round numbers beyond a double's precision.
    const outputs = reaches(res, 'read') ? current.outputs : redactedOutputs(current.outputs);
    const head = JSON.stringify({ name, version: body.version, serial: version.serial, lineage: version.lineage });
    sendParts(res, 'application/json', [Buffer.from(`${head.slice(0, -1)},"outputs":`), outputs, Buffer.from('}')]);
  });

  router.get('/states/:name/outputs/:output', requireRole('outputs', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { name } = input.right.params;
    const outputName = decodeOutputName(req);
    if (E.isLeft(outputName)) return sendError(res, outputName.left);
    const raw = req.accepts(['application/json', 'text/plain']) === 'text/plain';
    const current = await currentOutputs(req, res, name);
    if (current === undefined) return;
    const output = findOutput(current.outputs, outputName.right);
    const quoted = quotedName(outputName.right);
    if (output === undefined) return sendError(res, notFound(`state ${name} has no output ${quoted}`));
    if (output.kind === 'not_an_object') {
      return sendError(res, { type: 'Unprocessable', code: 'unreadable_state', message: `output ${quoted} of state ${name} is not a JSON object, as Terraform writes outputs` });
    }
    if (output.sensitive && !reaches(res, 'read')) {
      logDenial(logger, req, res, 'read', name);
      return sendError(res, { type: 'Forbidden', message: `output ${quoted} of state ${name} is sensitive: its value needs the read role; ${principalOf(res).actor} has ${roleOf(res)}` });
    }
    res.setHeader('X-State-Version', String(current.body.version));
    const value = output.value === undefined ? NULL : output.value;
    if (raw) return sendParts(res, 'text/plain', [output.valueKind === 'string' ? stringText(value) : compactJson(value)]);
    // Compact, numbers and strings as written: no value goes through JSON.parse.
    const head = `{"name":${JSON.stringify(outputName.right)},"type":`;
    const sensitive = `,"sensitive":${output.sensitive},"value":`;
    sendParts(res, 'application/json', [Buffer.from(head), output.type === undefined ? NULL : compactJson(output.type), Buffer.from(sensitive), compactJson(value), Buffer.from('}')]);
  });
  return router;
};
