import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { heldLock, listStates } from '../projections/queries.js';
import { lockAt } from '../storage/event-reads.js';
import { decodeAtQuery, decodeRequest, decodeStateParams } from './codecs.js';
import { notFound, sendError } from './errors.js';
import { principalOf, requireRole, visiblePatterns } from './access-control.js';
import type { Logger } from '../logger.js';

/** Which states exist and who holds their locks, now or at a time. */
export const stateRoutes = ({ db, logger }: LedgerDeps & { readonly logger: Logger }): express.Router => {
  const router = express.Router();

  router.get('/states', async (_req, res) => {
    res.json({ states: await listStates(db, visiblePatterns(principalOf(res))) });
  });

  router.get('/states/:name/lock', requireRole('read', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeAtQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const { at } = query;
    const lock = at === undefined ? await heldLock(db, name) : await lockAt(db, name, at);
    if (lock === undefined) return sendError(res, notFound(`state ${name} is not locked${at === undefined ? '' : ` at ${at.toISOString()}`}`));
    res.json({ ...lock.info, acquired_at: lock.acquired_at, acquired_by: lock.acquired_by });
  });

  return router;
};
