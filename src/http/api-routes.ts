import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import { findVersion, heldLock, listStates, listVersions, stateKnown, type VersionEntry } from '../projections/queries.js';
import type { SqlExecutor } from '../projections/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import { decodeStateParams, decodeVersionParams, decodeVersionsQuery } from './codecs.js';
import { sendError } from './errors.js';
import { sendBody } from './send-body.js';

export interface ApiDeps {
  readonly db: SqlExecutor;
  readonly blobs: BlobStore;
}

const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;

const versionJson = (v: VersionEntry) => ({
  version: v.version,
  serial: v.serial,
  lineage: v.lineage,
  terraform_version: v.terraform_version,
  size: v.size,
  sha256: v.sha256,
  md5: v.md5,
  encrypted: v.encrypted,
  created_at: v.created_at,
  created_by: v.created_by,
  lock_id: v.lock_id,
});

/** Our own JSON API over the read models: listing, history, lock inspection. */
export const apiRoutes = ({ db, blobs }: ApiDeps): express.Router => {
  const router = express.Router();

  router.get('/states', async (_req, res) => {
    res.json({ states: await listStates(db) });
  });

  router.get('/states/:name/lock', async (req, res) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const lock = await heldLock(db, params.right.name);
    if (lock === undefined) return sendError(res, { type: 'NotFound', message: `state ${params.right.name} is not locked` });
    res.json({ ...lock.info, acquired_at: lock.acquired_at, acquired_by: lock.acquired_by });
  });

  router.get('/states/:name/versions', async (req, res) => {
    const params = decodeStateParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const query = decodeVersionsQuery(req.query);
    if (E.isLeft(query)) return sendError(res, query.left);
    const { name } = params.right;
    const limit = Math.min(query.right.limit ?? DEFAULT_PAGE, MAX_PAGE);
    const versions = await listVersions(db, name, { limit, before: query.right.before });
    if (versions.length === 0 && !(await stateKnown(db, name))) {
      return sendError(res, { type: 'NotFound', message: `state ${name} does not exist` });
    }
    const last = versions[versions.length - 1];
    const next = versions.length === limit && last !== undefined && last.version > 1 ? last.version : null;
    res.json({ name, versions: versions.map(versionJson), next });
  });

  router.get('/states/:name/versions/:version', async (req, res) => {
    const params = decodeVersionParams(req.params);
    if (E.isLeft(params)) return sendError(res, params.left);
    const { name, version } = params.right;
    const entry = await findVersion(db, name, version);
    if (entry === undefined) return sendError(res, { type: 'NotFound', message: `state ${name} has no version ${version}` });
    await sendBody(req, res, blobs, entry);
  });

  return router;
};
