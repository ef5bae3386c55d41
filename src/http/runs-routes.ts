import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { Logger } from '../logger.js';
import { listRuns, type RunEntry } from '../projections/run-queries.js';
import type { SqlExecutor } from '../storage/sql.js';
import { stateKnown } from '../storage/event-reads.js';
import { requireRole } from './access-control.js';
import { decodeRequest, decodeRunsQuery, decodeStateParams } from './codecs.js';
import { notFound, sendError } from './errors.js';
import { pageSize } from './paging.js';
import { sendTable, wantsTable } from './text-table.js';

const runJson = (run: RunEntry) => ({
  first_version: run.first_version,
  last_version: run.last_version,
  versions: run.version_count,
  /** The current version before the run (null: the state had none). */
  base_version: run.base_version,
  lock_id: run.lock_id,
  operation: run.operation,
  who: run.who,
  started_by: run.actor,
  started_at: run.started_at,
  ended_at: run.ended_at,
  /** unlocked, force-unlocked, lease-expired, not-locked (pushed without a lock); null while the lock is held. */
  ended: run.ended,
  resources: run.added === null ? null : { added: run.added, changed: run.changed, removed: run.removed },
  resources_unknown: run.changes_unknown,
});

/** GET /states/NAME/runs: the versions written under one lock each, newest first. */
export const runsRoutes = ({ db, logger }: { readonly db: SqlExecutor; readonly logger: Logger }): express.Router => {
  const router = express.Router();

  router.get('/states/:name/runs', requireRole('read', logger), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeRunsQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const limit = pageSize(query.limit);
    const runs = await listRuns(db, name, { limit, before: query.before });
    if (runs.length === 0 && !(await stateKnown(db, name))) return sendError(res, notFound(`state ${name} does not exist`));
    const last = runs[runs.length - 1];
    const next = runs.length === limit && last !== undefined && last.first_version > 1 ? last.first_version : null;
    if (wantsTable(req)) {
      return sendTable(
        res,
        ['versions', 'started', 'ended', 'how', 'operation', 'who', 'by', 'lock id', 'added', 'changed', 'removed'],
        runs.map((r) => [
          r.first_version === r.last_version ? r.first_version : `${r.first_version}-${r.last_version}`,
          r.started_at, r.ended_at, r.ended ?? 'locked', r.operation, r.who, r.actor, r.lock_id, r.added, r.changed, r.removed,
        ]),
      );
    }
    res.json({ name, runs: runs.map(runJson), next });
  });

  return router;
};
