import { createHash } from 'node:crypto';
import { streamFold } from '../../commands/stream-kinds.js';
import { canonicalJson, chainHash, GENESIS_HASH } from '../../events/hash-chain.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { chainedFieldsOf, decodeEventRow, eventColumns, type EventRow } from '../event-rows.js';
import type { SqlExecutor } from '../sql.js';
import type { Checkpoint } from './checkpoint-document.js';
import { checkAgainst, findTrustedCheckpoint } from './checkpoints.js';
import type { SigningKey } from './signing-key.js';

export type LedgerProblem =
  | { readonly kind: 'event'; readonly position: number; readonly stream: string; readonly version: number; readonly reason: string }
  | { readonly kind: 'stream'; readonly stream: string; readonly reason: string }
  | { readonly kind: 'blob'; readonly key: string; readonly reason: string }
  /** The ledger no longer matches a signed checkpoint, or a checkpoint does not hold (no stream then). */
  | { readonly kind: 'checkpoint'; readonly checkpoint: string; readonly stream: string | undefined; readonly reason: string };

/** What the ledger was compared with, besides itself. */
export type CheckpointCheck =
  /** No key given: checkpoints were not looked at. */
  | { readonly kind: 'skipped' }
  | { readonly kind: 'none yet' }
  /** Checkpoints exist, but none among the newest was signed by this key. */
  | { readonly kind: 'none trusted'; readonly count: number }
  | { readonly kind: 'compared'; readonly checkpoint: Checkpoint };

export interface VerifyReport {
  readonly events: number;
  readonly streams: number;
  readonly blobs: number;
  readonly problems: readonly LedgerProblem[];
  readonly checkpoint: CheckpointCheck;
}

const BATCH = 5000;

interface StreamEnd {
  readonly version: number;
  readonly state: unknown;
}

/** One stream's fold as its events are checked: streams come one after the other, in stream order. */
interface StreamRun {
  readonly stream: string;
  readonly fold: ReturnType<typeof streamFold>;
  version: number;
  hash: string;
  state: unknown;
}

/**
 * Recomputes every stream's hash chain from the stored rows, in stream order, folding each stream
 * as it goes. The next batch is asked for before this one is checked, so PostgreSQL reads while
 * this process hashes (the two take about as long).
 */
const verifyChains = async (sql: SqlExecutor, problems: LedgerProblem[], ends: Map<string, StreamEnd>, onProgress: (events: number) => void) => {
  const batchAfter = (stream: string, version: number) => {
    const query = sql.query<EventRow & Record<string, unknown>>(
      `SELECT ${eventColumns} FROM events
       WHERE (stream_id, stream_version) > ($1, $2) ORDER BY stream_id, stream_version LIMIT $3`,
      [stream, version, BATCH],
    );
    query.catch(() => undefined); // awaited below; this only keeps a failure while checking from going unhandled
    return query;
  };
  const end = (run: StreamRun | undefined) => {
    if (run !== undefined) ends.set(run.stream, { version: run.version, state: run.state });
  };
  let run: StreamRun | undefined;
  let events = 0;
  let next: ReturnType<typeof batchAfter> | undefined = batchAfter('', 0);
  while (next !== undefined) {
    const rows: EventRow[] = (await next).rows;
    const last: EventRow | undefined = rows[rows.length - 1];
    next = last === undefined || rows.length < BATCH ? undefined : batchAfter(last.stream_id, last.stream_version);
    for (const row of rows) {
      if (run === undefined || row.stream_id !== run.stream) {
        end(run);
        const fold = streamFold(row.stream_id);
        run = { stream: row.stream_id, fold, version: 0, hash: GENESIS_HASH, state: fold.initial };
      }
      const where = () => ({ kind: 'event' as const, position: row.global_position, stream: row.stream_id, version: row.stream_version });
      if (row.stream_version !== run.version + 1) problems.push({ ...where(), reason: `follows version ${run.version}: the stream has a gap` });
      const expected = chainHash(run.hash, chainedFieldsOf(row));
      if (expected !== row.hash) problems.push({ ...where(), reason: `its content does not match its hash (recomputed ${expected}, stored ${row.hash})` });
      run.version = row.stream_version;
      run.hash = row.hash;
      try {
        run.state = run.fold.evolve(run.state, decodeEventRow(row).event);
      } catch (error) {
        problems.push({ ...where(), reason: `does not decode: ${(error as Error).message}` });
      }
    }
    events += rows.length;
    onProgress(events);
  }
  end(run);
  return { events, streams: ends.size };
};

/**
 * Each stream's version and decider snapshot must match its events: a cut-off tail of events
 * leaves every remaining link intact, but not the stream's own record of where it ends.
 */
const verifyStreams = async (sql: SqlExecutor, problems: LedgerProblem[], ends: Map<string, StreamEnd>) => {
  const { rows } = await sql.query<{ stream_id: string; version: number; snapshot: unknown; snapshot_schema: number }>(
    'SELECT stream_id, version, snapshot, snapshot_schema FROM streams ORDER BY stream_id',
  );
  for (const row of rows) {
    const end = ends.get(row.stream_id);
    if (end === undefined || end.version !== row.version) {
      problems.push({ kind: 'stream', stream: row.stream_id, reason: `is at version ${row.version} but its events end at ${end?.version ?? 0}` });
    } else if (row.snapshot_schema === streamFold(row.stream_id).snapshotSchema && canonicalJson(row.snapshot) !== canonicalJson(end.state)) {
      problems.push({ kind: 'stream', stream: row.stream_id, reason: 'has a decider snapshot that differs from its events' });
    }
  }
  const recorded = new Set(rows.map((row) => row.stream_id));
  for (const stream of ends.keys()) {
    if (!recorded.has(stream)) problems.push({ kind: 'stream', stream, reason: 'has events but no stream record' });
  }
};

/**
 * Re-hashes every blob a kept version refers to. A version a VersionPruned event removed has no
 * body to check (its absence is the ledger's own record, not corruption); its key is still checked
 * when a kept version of any state refers to the same bytes. Read from the events, not the read models.
 */
const verifyBlobs = async (sql: SqlExecutor, blobs: BlobStore, problems: LedgerProblem[]) => {
  const { rows } = await sql.query<{ key: string; sha256: string; size: number }>(
    `SELECT DISTINCT e.data->>'blob_key' AS key, e.data->>'sha256' AS sha256, (e.data->>'size')::bigint AS size
     FROM events e
     WHERE e.type IN ('StatePushed', 'StateRolledBack')
       AND NOT EXISTS (SELECT 1 FROM events p WHERE p.type = 'VersionPruned' AND p.stream_id = e.stream_id AND p.data->'version' = e.data->'version')
     ORDER BY 1`,
  );
  for (const { key, sha256, size } of rows) {
    const stream = await blobs.get(key);
    if (stream === null) {
      problems.push({ kind: 'blob', key, reason: 'is missing from the blob store' });
      continue;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    const actual = hash.digest('hex');
    if (actual !== sha256 || bytes !== size) {
      problems.push({ kind: 'blob', key, reason: `is corrupt: sha256 ${actual} and ${bytes} bytes, expected ${sha256} and ${size}` });
    }
  }
  return rows.length;
};

/**
 * Compares the ledger with the newest checkpoint this key signed (reporting the newest checkpoint
 * if it does not hold): what a rewrite of the whole database, hashes recomputed, cannot hide.
 */
const verifyCheckpoint = async (sql: SqlExecutor, blobs: BlobStore, key: SigningKey, problems: LedgerProblem[]): Promise<CheckpointCheck> => {
  const lookup = await findTrustedCheckpoint(blobs, key);
  if (lookup.rejected !== undefined) problems.push({ kind: 'checkpoint', checkpoint: lookup.rejected.name, stream: undefined, reason: lookup.rejected.reason });
  if (lookup.trusted === undefined) return lookup.count === 0 ? { kind: 'none yet' } : { kind: 'none trusted', count: lookup.count };
  for (const broken of await checkAgainst(sql, lookup.trusted)) problems.push({ kind: 'checkpoint', ...broken });
  return { kind: 'compared', checkpoint: lookup.trusted };
};

export interface VerifyOptions {
  /** The checkpoint key: compare with the newest checkpoint it signed. Unset: checkpoints are not looked at. */
  readonly key?: SigningKey | undefined;
  readonly onProgress?: ((events: number) => void) | undefined;
}

/**
 * Proves the ledger unaltered: every hash chain recomputes, every referenced blob re-hashes to its
 * address, and nothing a signed checkpoint recorded has gone or changed.
 */
export const verifyLedger = async (sql: SqlExecutor, blobs: BlobStore, options: VerifyOptions = {}): Promise<VerifyReport> => {
  const problems: LedgerProblem[] = [];
  // Read before the chains: the checkpoint compared with is one that existed before this run.
  const checkpoint = options.key === undefined ? ({ kind: 'skipped' } as const) : await verifyCheckpoint(sql, blobs, options.key, problems);
  const ends = new Map<string, StreamEnd>();
  const { events, streams } = await verifyChains(sql, problems, ends, options.onProgress ?? (() => undefined));
  await verifyStreams(sql, problems, ends);
  const checkedBlobs = await verifyBlobs(sql, blobs, problems);
  return { events, streams, blobs: checkedBlobs, problems, checkpoint };
};

export const describeProblem = (problem: LedgerProblem): string => {
  switch (problem.kind) {
    case 'event':
      return `event at position ${problem.position} (state ${problem.stream}, stream version ${problem.version}) ${problem.reason}`;
    case 'stream':
      return `state ${problem.stream} ${problem.reason}`;
    case 'blob':
      return `blob ${problem.key} ${problem.reason}`;
    case 'checkpoint':
      return problem.stream === undefined ? `checkpoint ${problem.checkpoint} ${problem.reason}` : `state ${problem.stream} ${problem.reason}`;
  }
};
