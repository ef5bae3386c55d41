import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { listStates } from '../projections/queries.js';
import { decodeStatesQuery } from './codecs.js';
import { sendError } from './errors.js';
import { principalOf, visiblePatterns } from './access-control.js';

/** Which states exist and who holds their locks. */
export const stateRoutes = ({ db }: LedgerDeps): express.Router => {
  const router = express.Router();

  router.get('/states', async (req, res) => {
    const query = decodeStatesQuery(req.query);
    if (E.isLeft(query)) return sendError(res, query.left);
    res.json({ states: await listStates(db, visiblePatterns(principalOf(res)), query.right.prefix) });
  });

  return router;
};
