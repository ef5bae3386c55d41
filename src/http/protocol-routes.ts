import express, { type Request, type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { pushState } from '../application/push-state.js';
import type { TrafficLimits } from '../config.js';
import type { Command } from '../commands/commands.js';
import { handleCommand } from '../commands/handler.js';
import { LockInfoCodec, type LockInfo } from '../events/lock-info.js';
import { isStorable } from '../events/storable-string.js';
import { currentBody, findVersion } from '../projections/queries.js';
import { versionAt } from '../storage/event-reads.js';
import { decodeAtQuery, decodeInput, decodeRequest, decodeStateParams, decodeWriteQuery, noQuery } from './codecs.js';
import { badRequest, sendError, type RequestError } from './errors.js';
import { commandMetadata } from './request-context.js';
import { sendBody } from './send-body.js';
import { readSmallJson, smallBody } from './small-body.js';
import { logDenial, reaches, requireRole } from './access-control.js';
import type { Role } from '../access/roles.js';
import type { Logger } from '../logger.js';
import { sendOutputsDocument } from './outputs.js';
import { uploadSlots } from './upload-slots.js';
import { policyFor, type GlobPolicy } from '../policies/glob-policy.js';

const LOCK_TEXT = 'text without NUL characters';
const decodeLockInfoFields = decodeInput(
  LockInfoCodec,
  'invalid_lock_info',
  { ID: 'a non-empty string', Operation: LOCK_TEXT, Info: LOCK_TEXT, Who: LOCK_TEXT, Version: LOCK_TEXT, Created: LOCK_TEXT, Path: LOCK_TEXT },
  'the body must be a LockInfo JSON object with a non-empty string ID',
);

const decodeLockInfo = (body: unknown): E.Either<RequestError, LockInfo> =>
  E.flatMap(decodeLockInfoFields(body), (info) =>
    info.ID === '' ? E.left(badRequest('invalid_lock_info', 'ID must be a non-empty string; got ""')) : E.right(info),
  );

/**
 * The LockInfo an unlock presents. Terraform's force-unlock sends no body, OpenTofu 1.10+'s only
 * the ID (the other fields empty); a normal unlock sends back the LockInfo it locked with.
 */
const unlockTarget = (body: unknown): E.Either<RequestError, LockInfo | null> => {
  if (body === undefined) return E.right(null);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return E.left(badRequest('invalid_lock_info', 'the body must be empty or a LockInfo JSON object'));
  }
  const id = (body as { ID?: unknown }).ID;
  if (id !== undefined && (typeof id !== 'string' || !isStorable(id))) return E.left(badRequest('invalid_lock_info', 'ID must be a string without NUL characters'));
  if (id === undefined || id === '') return E.right(null);
  return E.map((info: LockInfo) => info)(decodeLockInfoFields(body));
};

/** The Terraform/OpenTofu http backend protocol, exactly as both clients speak it. */
export interface ProtocolDeps extends LedgerDeps {
  readonly traffic: TrafficLimits;
  readonly logger: Logger;
  /** LOCK_TTL: the lease of each state's locks, in seconds (null or absent: none). */
  readonly leases: GlobPolicy<number | null>;
}

export const protocolRoutes = (deps: ProtocolDeps): express.Router => {
  const { store, db, blobs, traffic, logger, leases } = deps;
  const need = (role: Role) => requireRole(role, logger);
  const small = smallBody(traffic.requestTimeoutMs);
  const slots = uploadSlots(traffic);
  const run = handleCommand(store, deps.commandObserver);
  const push = pushState(deps);
  const router = express.Router();

  /** Runs a command and answers 200 with reply(number of events appended), or the error. */
  const runAndReply = async (req: Request, res: Response, name: string, command: Command, reply: (events: number) => unknown) => {
    const outcome = await run(name, command, commandMetadata(req, res))();
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.status(200).json(reply(outcome.right.events.length));
  };

  router.get('/states/:name', need('outputs'), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeAtQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const { at } = query;
    if (!reaches(res, 'read')) {
      if (at === undefined) return sendOutputsDocument(req, res, deps, name, await currentBody(db, name));
      logDenial(logger, req, res, 'read', name);
      return sendError(res, { type: 'Forbidden', message: `reading state ${name} at a past time needs the read role; this identity may read only its current outputs` });
    }
    if (at === undefined) {
      const body = await currentBody(db, name);
      return body === undefined ? void res.status(404).end() : sendBody(req, res, blobs, body, logger);
    }
    // Point in time: the version that was current then, served from the history.
    const version = await versionAt(db, name, at);
    const body = version === null ? E.right(undefined) : await findVersion(db, name, version);
    if (E.isLeft(body)) return sendError(res, body.left);
    return body.right === undefined ? void res.status(404).end() : sendBody(req, res, blobs, body.right, logger);
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
  router.post('/states/:name', need('write'), slots, update);
  router.put('/states/:name', need('write'), slots, update);

  router.delete('/states/:name', need('admin'), async (req, res) => {
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
    const leaseSeconds = policyFor(leases, params.name) ?? null;
    const command: Command = { type: 'LockState', lock: info.right, ...(leaseSeconds === null ? {} : { leaseSeconds }) };
    await runAndReply(req, res, params.name, command, () => info.right);
  };
  router.lock('/states/:name', need('write'), ...small, lock);
  router.post('/states/:name/lock', need('write'), ...small, lock);
  router.lock('/states/:name/lock', need('write'), ...small, lock);

  const unlock = async (req: Request, res: Response) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params } = input.right;
    const target = E.flatMap(readSmallJson(req), unlockTarget);
    if (E.isLeft(target)) return sendError(res, target.left);
    const outcome = await run(params.name, { type: 'UnlockState', presented: target.right, mayForce: reaches(res, 'admin') }, commandMetadata(req, res))();
    if (E.isLeft(outcome)) {
      if (outcome.left.type === 'ForceUnlockForbidden') logDenial(logger, req, res, 'admin', params.name);
      return sendError(res, outcome.left);
    }
    const released = outcome.right.events[0]?.event.type;
    res.status(200).json({ released: released !== undefined, forced: released === 'LockForceReleased' });
  };
  router.unlock('/states/:name', need('write'), ...small, unlock);
  router.post('/states/:name/unlock', need('write'), ...small, unlock);
  router.unlock('/states/:name/unlock', need('write'), ...small, unlock);

  return router;
};
