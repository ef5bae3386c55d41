import express, { type Response } from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { handleCommand } from '../commands/handler.js';
import type { TrafficLimits } from '../config.js';
import type { Logger } from '../logger.js';
import { heldLock, listLocks, type LockEntry } from '../projections/queries.js';
import { lockAt } from '../storage/event-reads.js';
import { principalOf, requireRole, visiblePatterns } from './access-control.js';
import { decodeAtQuery, decodeFormatQuery, decodeReleaseBody, decodeRequest, decodeStateParams, noQuery } from './codecs.js';
import { notFound, sendError } from './errors.js';
import { commandMetadata } from './request-context.js';
import { readSmallJson, smallBody } from './small-body.js';
import { sendTable, wantsTable } from './text-table.js';

/** A held lock as GET /states/NAME/lock describes it, at `now`. */
const describeLock = (lock: LockEntry, now: Date) => ({
  ...lock.info,
  acquired_at: lock.acquired_at,
  acquired_by: lock.acquired_by,
  lease_until: lock.lease_until,
  /** Past its lease: another lock may take it over (its holder may still write until then). */
  expired: lock.lease_until !== null && lock.lease_until.getTime() < now.getTime(),
});

/** In GET /locks, also how long it has been held. */
const listedLock = (state: string, lock: LockEntry, now: Date) => ({
  state,
  ...describeLock(lock, now),
  age_seconds: Math.max(0, Math.floor((now.getTime() - lock.acquired_at.getTime()) / 1000)),
});

const LOCK_COLUMNS = ['state', 'id', 'who', 'operation', 'acquired_at', 'age', 'lease_until', 'expired'];

const age = (seconds: number): string =>
  seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.floor(seconds / 60)}m` : seconds < 172800 ? `${Math.floor(seconds / 3600)}h` : `${Math.floor(seconds / 86400)}d`;

const sendLocks = (res: Response, table: boolean, locks: ReadonlyArray<ReturnType<typeof listedLock>>): void => {
  if (!table) return void res.json({ locks });
  sendTable(
    res,
    LOCK_COLUMNS,
    locks.map((lock) => [lock.state, lock.ID, lock.Who, lock.Operation, lock.acquired_at, age(lock.age_seconds), lock.lease_until, lock.expired ? 'yes' : 'no']),
  );
};

/** Who holds which lock, since when and until when, and an administrator's release with a reason. */
export const locksRoutes = (deps: LedgerDeps & { readonly logger: Logger; readonly traffic: TrafficLimits }): express.Router => {
  const { db, logger } = deps;
  const run = handleCommand(deps.store, deps.commandObserver);
  const router = express.Router();

  router.get('/locks', async (req, res) => {
    const query = decodeFormatQuery(req.query);
    if (E.isLeft(query)) return sendError(res, query.left);
    const now = new Date();
    const locks = await listLocks(db, visiblePatterns(principalOf(res)));
    sendLocks(res, query.right.format === 'table' || wantsTable(req), locks.map(({ name, ...lock }) => listedLock(name, lock, now)));
  });

  router.get('/states/:name/lock', requireRole('read', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeAtQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const { at } = query;
    if (at !== undefined) {
      const past = await lockAt(db, name, at);
      if (past === undefined) return sendError(res, notFound(`state ${name} was not locked at ${at.toISOString()}`));
      return void res.json({ ...past.info, acquired_at: past.acquired_at, acquired_by: past.acquired_by });
    }
    const lock = await heldLock(db, name);
    if (lock === undefined) return sendError(res, notFound(`state ${name} is not locked`));
    res.json(describeLock(lock, new Date()));
  });

  router.delete('/states/:name/lock', requireRole('admin', logger), ...smallBody(deps.traffic.requestTimeoutMs), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const body = E.flatMap(readSmallJson(req), decodeReleaseBody);
    if (E.isLeft(body)) return sendError(res, body.left);
    const { reason, ID } = body.right;
    const outcome = await run(input.right.params.name, { type: 'ReleaseLock', reason, expectedId: ID ?? null }, commandMetadata(req, res))();
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    const released = outcome.right.events[0];
    res.json({ released: released !== undefined, lock: released?.event.type === 'LockForceReleased' ? released.event.data.lock : null, reason });
  });

  return router;
};
