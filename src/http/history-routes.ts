import express from 'express';
import * as E from 'fp-ts/lib/Either.js';
import type { LedgerDeps } from '../application/deps.js';
import type { TrafficLimits } from '../config.js';
import { rollbackState } from '../application/rollback-state.js';
import { diffRunner, type DiffRefusal } from '../history/diff-runner.js';
import { formatDiff, MAX_DIFF_DEPTH } from '../history/state-diff.js';
import { pinVersion, unpinVersion } from '../application/pin-version.js';
import { currentBody, currentVersion, findVersionRecord, listVersions, prunedError, type VersionEntry } from '../projections/queries.js';
import { decodePinBody } from './retention-codecs.js';
import { stateKnown } from '../storage/event-reads.js';
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
import { notFound, sendError, type HttpError } from './errors.js';
import { requireRole } from './access-control.js';
import type { Logger } from '../logger.js';
import { pageSize } from './paging.js';
import { commandMetadata } from './request-context.js';
import { sendBody } from './send-body.js';
import { readSmallJson, smallBody } from './small-body.js';
import { sendTable, wantsTable } from './text-table.js';

/**
 * A diff parses both versions whole, in a worker process, one pair at a time: bounded in size, heap
 * and time so that no request can exhaust the server's memory or hold its event loop.
 */
const DIFF_MAX_BYTES = 32 * 1024 * 1024;
const DIFF_HEAP_MB = 768;
const DIFF_TIMEOUT_MS = 60_000;
const DIFF_MAX_WAITING = 16;

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
  /** Kept from retention by an administrator (null: not pinned). */
  pinned: v.pinned_at === null ? null : { at: v.pinned_at, by: v.pinned_by, reason: v.pinned_reason },
  /** Its body removed by a retention policy (null: kept); the rest of the entry remains. */
  pruned: v.pruned_at === null ? null : { at: v.pruned_at, policy: v.pruned_policy },
});

/** A version's bytes in a buffer of their own (it is handed over to the diff worker, not copied). */
const readBytes = async (blobs: BlobStore, entry: VersionEntry): Promise<Uint8Array> => {
  const stream = await blobs.get(entry.blob_key);
  if (stream === null) throw new Error(`blob ${entry.blob_key} of version ${entry.version} is missing from the blob store`);
  const bytes = new Uint8Array(entry.size);
  let filled = 0;
  for await (const chunk of stream) {
    const piece = chunk as Buffer;
    if (filled + piece.length > bytes.length) throw new Error(`blob ${entry.blob_key} is longer than the ${entry.size} bytes recorded`);
    bytes.set(piece, filled);
    filled += piece.length;
  }
  if (filled !== bytes.length) throw new Error(`blob ${entry.blob_key} is shorter than the ${entry.size} bytes recorded`);
  return bytes;
};

const DIFF_REFUSALS: Record<Exclude<DiffRefusal, 'busy'>, string> = {
  too_deep: `a version holds values nested more than ${MAX_DIFF_DEPTH} levels deep, which the server does not compare`,
  unreadable: 'a version is not readable JSON',
  too_large: 'comparing these versions needs more memory than the server gives a diff; download both and compare them locally',
  too_slow: 'comparing these versions took too long; download both and compare them locally',
};

const refusalError = (refusal: DiffRefusal): HttpError =>
  refusal === 'busy'
    ? { type: 'ServerBusy', message: 'the server is comparing other versions right now; retry shortly' }
    : { type: 'Unprocessable', code: refusal === 'too_deep' ? 'too_deep_to_diff' : 'cannot_diff', message: DIFF_REFUSALS[refusal] };

/** Versions, their bytes, diffs between them, and rollback to one of them. */
export const historyRoutes = (deps: LedgerDeps & { readonly traffic: TrafficLimits; readonly logger: Logger }): express.Router => {
  const { db, blobs } = deps;
  const read = requireRole('read', deps.logger);
  const rollback = rollbackState(deps);
  const diffs = diffRunner({ heapMb: DIFF_HEAP_MB, timeoutMs: DIFF_TIMEOUT_MS, maxWaiting: DIFF_MAX_WAITING });
  const router = express.Router();

  router.get('/states/:name/versions', read, async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeVersionsQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const limit = pageSize(query.limit);
    const [versions, current] = await Promise.all([listVersions(db, name, { limit, before: query.before, at: query.at }), currentVersion(db, name)]);
    if (versions.length === 0 && !(await stateKnown(db, name))) return sendError(res, notFound(`state ${name} does not exist`));
    const last = versions[versions.length - 1];
    const next = versions.length === limit && last !== undefined && last.version > 1 ? last.version : null;
    if (wantsTable(req)) {
      return sendTable(
        res,
        ['version', 'serial', 'size', 'resources', 'outputs', 'created', 'by', 'operation', 'who', 'restored from', 'lock id', 'pinned', 'pruned', 'instances'],
        versions.map((v) => [
          v.version, v.serial, v.size, v.resource_count, v.output_count, v.created_at, v.created_by, v.operation, v.who, v.restored_from, v.lock_id,
          v.pinned_at === null ? null : 'pinned', v.pruned_at === null ? null : 'pruned', v.instance_count,
        ]),
      );
    }
    res.json({ name, current, versions: versions.map((v) => ({ ...versionJson(v), instances: v.instance_count })), next });
  });

  router.get('/states/:name/versions/:version', read, async (req, res) => {
    const input = decodeRequest(req, decodeVersionParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params } = input.right;
    const { name, version } = params;
    const entry = await findVersionRecord(db, name, version);
    if (entry === undefined) return sendError(res, notFound(`state ${name} has no version ${version}`));
    const pruned = prunedError(name, entry);
    if (pruned !== undefined) return sendError(res, pruned);
    await sendBody(req, res, blobs, entry, deps.logger);
  });

  router.get('/states/:name/diff', read, async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeDiffQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const { name } = params;
    const toVersion = query.to ?? (await currentBody(db, name))?.version;
    if (toVersion === undefined) return sendError(res, notFound(`state ${name} has no current version; name one with ?to=`));
    const to = await findVersionRecord(db, name, toVersion);
    if (to === undefined) return sendError(res, notFound(`state ${name} has no version ${toVersion}`));
    const fromVersion = query.from ?? (toVersion > 1 ? toVersion - 1 : undefined);
    const from = fromVersion === undefined ? undefined : await findVersionRecord(db, name, fromVersion);
    if (fromVersion !== undefined && from === undefined) return sendError(res, notFound(`state ${name} has no version ${fromVersion}`));
    const pruned = [from, to].flatMap((v) => (v === undefined ? [] : [prunedError(name, v)])).find((e) => e !== undefined);
    if (pruned !== undefined) return sendError(res, pruned);
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
    const diff = await diffs.diff(async () => ({ from: from === undefined ? null : await readBytes(blobs, from), to: await readBytes(blobs, to) }));
    if (typeof diff === 'string') return sendError(res, refusalError(diff));
    if (wantsTable(req)) return void res.type('text/plain').send(formatDiff(diff));
    res.json({ name, from: from?.version ?? null, to: to.version, ...diff });
  });

  router.post('/states/:name/rollback', requireRole('admin', deps.logger), ...smallBody(deps.traffic.requestTimeoutMs), async (req, res) => {
    const input = decodeRequest(req, decodeStateParams, decodeWriteQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { params, query } = input.right;
    const body = E.flatMap(readSmallJson(req), decodeRollbackBody);
    if (E.isLeft(body)) return sendError(res, body.left);
    const { version, reason, force } = body.right;
    const outcome = await rollback(params.name, { version, reason, force: force ?? false, lockId: query.ID ?? null }, commandMetadata(req, res));
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.json({ version: outcome.right.version, restored_from: outcome.right.restored, serial: outcome.right.serial });
  });

  const admin = requireRole('admin', deps.logger);
  const pin = pinVersion(deps);
  const unpin = unpinVersion(deps);

  /** Keeps version V from retention; the reason and the actor are recorded in the ledger. */
  router.post('/states/:name/versions/:version/pin', admin, ...smallBody(deps.traffic.requestTimeoutMs), async (req, res) => {
    const input = decodeRequest(req, decodeVersionParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const body = E.flatMap(readSmallJson(req), decodePinBody);
    if (E.isLeft(body)) return sendError(res, body.left);
    const { name, version } = input.right.params;
    const outcome = await pin(name, version, body.right.reason, commandMetadata(req, res));
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.json({ name, version, pinned: true, changed: outcome.right.changed });
  });

  router.delete('/states/:name/versions/:version/pin', admin, ...smallBody(deps.traffic.requestTimeoutMs), async (req, res) => {
    const input = decodeRequest(req, decodeVersionParams, noQuery);
    if (E.isLeft(input)) return sendError(res, input.left);
    const { name, version } = input.right.params;
    const outcome = await unpin(name, version, commandMetadata(req, res));
    if (E.isLeft(outcome)) return sendError(res, outcome.left);
    res.json({ name, version, pinned: false, changed: outcome.right.changed });
  });

  return router;
};
