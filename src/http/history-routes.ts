import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import { rollbackState } from '../application/rollback-state.js';
import { diffStates, formatDiff } from '../history/state-diff.js';
import { currentBody, findVersion, listVersions, stateKnown, type VersionEntry } from '../projections/queries.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import {
  decodeDiffQuery,
  decodeRequest,
  decodeRollbackBody,
  decodeStateParams,
  decodeVersionParams,
  decodeVersionsQuery,
  decodeWriteQuery,
  noQuery,
} from './codecs.js';
import { notFound, sendError } from './errors.js';
import { pageSize } from './paging.js';
import { commandMetadata } from './request-context.js';
import { sendBody } from './send-body.js';
import { sendTable, wantsTable } from './text-table.js';

/** A diff parses both versions whole: bounded so one request cannot exhaust the server's memory. */
const DIFF_MAX_BYTES = 64 * 1024 * 1024;

const versionJson = (v: VersionEntry) => ({
  version: v.version,
  serial: v.serial,
  lineage: v.lineage,
  terraform_version: v.terraform_version,
  size: v.size,
  sha256: v.sha256,
  md5: v.md5,
  encrypted: v.encrypted,
  resources: v.resource_count,
  outputs: v.output_count,
  operation: v.operation,
  who: v.who,
  restored_from: v.restored_from,
  created_at: v.created_at,
  created_by: v.created_by,
  lock_id: v.lock_id,
});

const readJson = async (blobs: BlobStore, entry: VersionEntry): Promise<unknown> => {
  const stream = await blobs.get(entry.blob_key);
  if (stream === null) throw new Error(`blob ${entry.blob_key} of version ${entry.version} is missing from the blob store`);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
};

/** Versions, their bytes, diffs between them, and rollback to one of them. */
export const historyRoutes = (deps: LedgerDeps): express.Router => {
  const { db, blobs } = deps;
  const rollback = rollbackState(deps);
  const router = express.Router();

  router.get('/states/:name/versions', async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeVersionsQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const limit = pageSize(query.limit);
    const versions = await listVersions(db, name, { limit, before: query.before, at: query.at });
    if (versions.length === 0 && !(await stateKnown(db, name))) return sendError(res, notFound(`state ${name} does not exist`));
    const last = versions[versions.length - 1];
    const next = versions.length === limit && last !== undefined && last.version > 1 ? last.version : null;
    if (wantsTable(req)) {
      return sendTable(
        res,
        ['version', 'serial', 'size', 'resources', 'outputs', 'created', 'by', 'operation', 'who', 'restored from', 'lock id'],
        versions.map((v) => [v.version, v.serial, v.size, v.resource_count, v.output_count, v.created_at, v.created_by, v.operation, v.who, v.restored_from, v.lock_id]),
      );
    }
    res.json({ name, versions: versions.map(versionJson), next });
  });

  router.get('/states/:name/versions/:version', async (req, res) => {
    const input = decodeRequest(req, decodeVersionParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params } = input.right;
    const { name, version } = params;
    const entry = await findVersion(db, name, version);
    if (entry === undefined) return sendError(res, notFound(`state ${name} has no version ${version}`));
    await sendBody(req, res, blobs, entry);
  });

  router.get('/states/:name/diff', async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeDiffQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const toVersion = query.to ?? (await currentBody(db, name))?.version;
    if (toVersion === undefined) return sendError(res, notFound(`state ${name} has no current version; name one with ?to=`));
    const to = await findVersion(db, name, toVersion);
    if (to === undefined) return sendError(res, notFound(`state ${name} has no version ${toVersion}`));
    const fromVersion = query.from ?? (toVersion > 1 ? toVersion - 1 : undefined);
    const from = fromVersion === undefined ? undefined : await findVersion(db, name, fromVersion);
    if (fromVersion !== undefined && from === undefined) return sendError(res, notFound(`state ${name} has no version ${fromVersion}`));
    const tooLarge = [from, to].find((v) => v !== undefined && v.size > DIFF_MAX_BYTES);
    if (tooLarge !== undefined) {
      return sendError(res, {
        type: 'Unprocessable',
        code: 'too_large_to_diff',
        message: `version ${tooLarge.version} is ${tooLarge.size} bytes; the server diffs states of up to ${DIFF_MAX_BYTES} bytes (download both versions to compare larger ones)`,
      });
    }
    const encrypted = [from, to].find((v) => v?.encrypted === true);
    if (encrypted !== undefined) {
      return sendError(res, {
        type: 'Unprocessable',
        code: 'encrypted_state',
        message: `version ${encrypted.version} is an OpenTofu-encrypted state; the server cannot read it to compare`,
      });
    }
    const diff = diffStates(from === undefined ? null : await readJson(blobs, from), await readJson(blobs, to));
    if (wantsTable(req)) return void res.type('text/plain').send(formatDiff(diff));
    res.json({ name, from: from?.version ?? null, to: to.version, ...diff });
  });

  router.post('/states/:name/rollback', express.json({ limit: '64kb', type: () => true }), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeWriteQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const body = decodeRollbackBody(req.body);
    if (E.isLeft(body)) return sendError(res, body.left);
    const { version, reason, force } = body.right;
    const outcome = await rollback(params.name, { version, reason, force: force ?? false, lockId: query.ID ?? null }, commandMetadata(req, res));
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.json({ version: outcome.right.version, restored_from: outcome.right.restored, serial: outcome.right.serial });
  });

  return router;
};
