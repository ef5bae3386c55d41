import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import express, { type Request, type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { Command } from '../commands/commands.js';
import { handleCommand, precheckWrite } from '../commands/handler.js';
import type { EventStore } from '../commands/ports.js';
import { LockInfoCodec, type LockInfo } from '../events/lock-info.js';
import { currentBody } from '../projections/queries.js';
import type { SqlExecutor } from '../projections/sql.js';
import { blobKeyFor, type BlobStore } from '../storage/blobs/blob-store.js';
import { decodeStateParams, decodeWriteQuery } from './codecs.js';
import { badRequest, sendError, type RequestError } from './errors.js';
import { commandMetadata } from './request-context.js';
import { checkContentMd5, receiveState, type BodyLimits } from './state-body.js';
import { sendBody } from './send-body.js';

export interface ProtocolDeps {
  readonly store: EventStore;
  readonly db: SqlExecutor;
  readonly blobs: BlobStore;
  readonly limits: BodyLimits;
}

/** Lock and unlock bodies are a LockInfo: small, so read whole (and MD5-checked like the clients send it). */
const smallBody = express.raw({ type: () => true, limit: '64kb' });

const readSmallJson = (req: Request): E.Either<RequestError, unknown> => {
  const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const md5 = checkContentMd5(req.get('content-md5'), createHash('md5').update(raw).digest('base64'));
  if (E.isLeft(md5)) return md5;
  if (raw.toString('utf8').trim() === '') return E.right(undefined);
  try {
    return E.right(JSON.parse(raw.toString('utf8')) as unknown);
  } catch (error) {
    return E.left(badRequest('invalid_json', `the body is not valid JSON: ${(error as Error).message}`));
  }
};

const decodeLockInfo = (body: unknown): E.Either<RequestError, LockInfo> => {
  const decoded = LockInfoCodec.decode(body);
  if (E.isLeft(decoded) || decoded.right.ID === '') {
    return E.left(badRequest('invalid_lock_info', 'the body must be a LockInfo JSON object with a non-empty string ID'));
  }
  return decoded;
};

/** Both force-unlock dialects: Terraform sends no body, OpenTofu 1.10+ sends only the ID. */
const unlockTarget = (body: unknown): E.Either<RequestError, string | null> => {
  if (body === undefined) return E.right(null);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return E.left(badRequest('invalid_lock_info', 'the body must be empty or a LockInfo JSON object'));
  }
  const id = (body as { ID?: unknown }).ID;
  if (id !== undefined && typeof id !== 'string') return E.left(badRequest('invalid_lock_info', 'ID must be a string'));
  return E.right(id === undefined || id === '' ? null : id);
};

export const protocolRoutes = (deps: ProtocolDeps): express.Router => {
  const { store, db, blobs, limits } = deps;
  const run = handleCommand(store);
  const precheck = precheckWrite(store);
  const router = express.Router();

  /** Runs a command and answers 200 with reply(number of events appended), or the error. */
  const runAndReply = async (req: Request, res: Response, name: string, command: Command, reply: (events: number) => unknown) => {
    const outcome = await run(name, command, commandMetadata(req, res))();
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.status(200).json(reply(outcome.right.length));
  };

  router.get('/states/:name', async (req, res) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const body = await currentBody(db, params.right.name);
    if (body === undefined) return void res.status(404).end();
    await sendBody(req, res, blobs, body);
  });

  const push = async (req: Request, res: Response) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const query = decodeWriteQuery(req.query);
    if (E.isLeft(query)) return sendError(res, query.left);
    const { name } = params.right;
    const lockId = query.right.ID ?? null;
    // Refuse before receiving hundreds of MB when the lock already forbids the write.
    const allowed = await precheck(name, lockId)();
    if (E.isLeft(allowed)) return sendError(res, allowed.left);
    const received = await receiveState(req, limits);
    if (E.isLeft(received)) return sendError(res, received.left);
    const state = received.right;
    try {
      const blobKey = blobKeyFor(state.sha256);
      // The blob is written before the event that refers to it; a failure here stores no version.
      await blobs.put(blobKey, state.file, state.size);
      const body = { ...state, blobKey };
      const outcome = await run(name, { type: 'PushState', lockId, body }, commandMetadata(req, res))();
      if (E.isLeft(outcome)) return sendError(res, outcome.left);
      const pushed = outcome.right[0]?.event;
      res.status(200).json({
        version: pushed?.type === 'StatePushed' ? pushed.data.version : null,
        sha256: state.sha256,
        size: state.size,
      });
    } finally {
      await fs.rm(state.file, { force: true });
    }
  };
  router.post('/states/:name', push);
  router.put('/states/:name', push);

  router.delete('/states/:name', async (req, res) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const query = decodeWriteQuery(req.query);
    if (E.isLeft(query)) return sendError(res, query.left);
    await runAndReply(req, res, params.right.name, { type: 'DeleteState', lockId: query.right.ID ?? null }, (events) => ({
      deleted: events > 0,
    }));
  });

  const lock = async (req: Request, res: Response) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const info = E.flatMap(readSmallJson(req), decodeLockInfo);
    if (E.isLeft(info)) return sendError(res, info.left);
    await runAndReply(req, res, params.right.name, { type: 'LockState', lock: info.right }, () => info.right);
  };
  router.lock('/states/:name', smallBody, lock);
  router.post('/states/:name/lock', smallBody, lock);
  router.lock('/states/:name/lock', smallBody, lock);

  const unlock = async (req: Request, res: Response) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const target = E.flatMap(readSmallJson(req), unlockTarget);
    if (E.isLeft(target)) return sendError(res, target.left);
    await runAndReply(req, res, params.right.name, { type: 'UnlockState', lockId: target.right }, (events) => ({
      released: events > 0,
      forced: target.right === null && events > 0,
    }));
  };
  router.unlock('/states/:name', smallBody, unlock);
  router.post('/states/:name/unlock', smallBody, unlock);
  router.unlock('/states/:name/unlock', smallBody, unlock);

  return router;
};
