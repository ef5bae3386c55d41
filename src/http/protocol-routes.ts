import { createHash } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { pushState } from '../application/push-state.js';
import { checkContentMd5 } from '../bodies/ingest.js';
import type { Command } from '../commands/commands.js';
import { handleCommand } from '../commands/handler.js';
import { LockInfoCodec, type LockInfo } from '../events/lock-info.js';
import { currentBody, findVersion, versionAt } from '../projections/queries.js';
import { decodeAtQuery, decodeRequest, decodeStateParams, decodeWriteQuery, noQuery } from './codecs.js';
import { badRequest, sendError, type HttpError, type RequestError } from './errors.js';
import { commandMetadata } from './request-context.js';
import { sendBody } from './send-body.js';

/** Lock and unlock bodies are a LockInfo: small, so read whole (and MD5-checked like the clients send it). */
const smallBody = express.raw({ type: () => true, limit: '64kb' });

const readSmallJson = (req: Request): E.Either<HttpError, unknown> => {
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

/** The Terraform/OpenTofu http backend protocol, exactly as both clients speak it. */
export const protocolRoutes = (deps: LedgerDeps): express.Router => {
  const { store, db, blobs } = deps;
  const run = handleCommand(store);
  const push = pushState(deps);
  const router = express.Router();

  /** Runs a command and answers 200 with reply(number of events appended), or the error. */
  const runAndReply = async (req: Request, res: Response, name: string, command: Command, reply: (events: number) => unknown) => {
    const outcome = await run(name, command, commandMetadata(req, res))();
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.status(200).json(reply(outcome.right.length));
  };

  router.get('/states/:name', async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeAtQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const { at } = query;
    if (at === undefined) {
      const body = await currentBody(db, name);
      return body === undefined ? void res.status(404).end() : sendBody(req, res, blobs, body);
    }
    // Point in time: the version that was current then, served from the history.
    const version = await versionAt(db, name, at);
    const body = version === null ? undefined : await findVersion(db, name, version);
    return body === undefined ? void res.status(404).end() : sendBody(req, res, blobs, body);
  });

  const update = async (req: Request, res: Response) => {
    const input = decodeRequest(req, decodeStateParams, decodeWriteQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    const outcome = await push(params.name, query.ID ?? null, req, { length, contentMd5: req.get('content-md5') }, commandMetadata(req, res));
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.status(200).json(outcome.right);
  };
  router.post('/states/:name', update);
  router.put('/states/:name', update);

  router.delete('/states/:name', async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeWriteQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    await runAndReply(req, res, params.name, { type: 'DeleteState', lockId: query.ID ?? null }, (events) => ({
      deleted: events > 0,
    }));
  });

  const lock = async (req: Request, res: Response) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params } = input.right;
    const info = E.flatMap(readSmallJson(req), decodeLockInfo);
    if (E.isLeft(info)) return sendError(res, info.left);
    await runAndReply(req, res, params.name, { type: 'LockState', lock: info.right }, () => info.right);
  };
  router.lock('/states/:name', smallBody, lock);
  router.post('/states/:name/lock', smallBody, lock);
  router.lock('/states/:name/lock', smallBody, lock);

  const unlock = async (req: Request, res: Response) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params } = input.right;
    const target = E.flatMap(readSmallJson(req), unlockTarget);
    if (E.isLeft(target)) return sendError(res, target.left);
    await runAndReply(req, res, params.name, { type: 'UnlockState', lockId: target.right }, (events) => ({
      released: events > 0,
      forced: target.right === null && events > 0,
    }));
  };
  router.unlock('/states/:name', smallBody, unlock);
  router.post('/states/:name/unlock', smallBody, unlock);
  router.unlock('/states/:name/unlock', smallBody, unlock);

  return router;
};
