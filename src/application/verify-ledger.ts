import { createHash } from 'node:crypto';
import { streamFold } from '../commands/stream-kinds.js';
import { canonicalJson, chainHash, GENESIS_HASH } from '../events/hash-chain.js';
import type { SqlExecutor } from '../projections/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import { decodeEventRow, eventColumns, type EventRow } from '../storage/event-rows.js';

export type LedgerProblem =
  | { readonly kind: 'event'; readonly position: number; readonly stream: string; readonly version: number; readonly reason: string }
  | { readonly kind: 'stream'; readonly stream: string; readonly reason: string }
  | { readonly kind: 'blob'; readonly key: string; readonly reason: string };

export interface VerifyReport {
  readonly events: number;
  readonly streams: number;
  readonly blobs: number;
  readonly problems: readonly LedgerProblem[];
}

const BATCH = 5000;

interface StreamEnd {
  readonly version: number;
  readonly state: unknown;
}

/** Recomputes every stream's hash chain from the stored rows, in stream order, folding each stream as it goes. */
const verifyChains = async (sql: SqlExecutor, problems: LedgerProblem[], ends: Map<string, StreamEnd>, onProgress: (events: number) => void) => {
  let after = { stream: '', version: 0 };
  let previous = { stream: '', version: 0, hash: GENESIS_HASH };
  let events = 0;
  let streams = 0;
  for (;;) {
    const { rows } = await sql.query<EventRow & Record<string, unknown>>(
      `SELECT ${eventColumns} FROM events
       WHERE (stream_id, stream_version) > ($1, $2) ORDER BY stream_id, stream_version LIMIT $3`,
      [after.stream, after.version, BATCH],
    );
    for (const row of rows) {
      if (row.stream_id !== previous.stream) {
        previous = { stream: row.stream_id, version: 0, hash: GENESIS_HASH };
        streams++;
      }
      const where = { kind: 'event' as const, position: row.global_position, stream: row.stream_id, version: row.stream_version };
      if (row.stream_version !== previous.version + 1) {
        problems.push({ ...where, reason: `follows version ${previous.version}: the stream has a gap` });
      }
      const expected = chainHash(previous.hash, {
        stream_id: row.stream_id,
        stream_version: row.stream_version,
        type: row.type,
        data: row.data,
        metadata: row.metadata,
        recorded_at: row.recorded_at,
      });
      if (expected !== row.hash) problems.push({ ...where, reason: `its content does not match its hash (recomputed ${expected}, stored ${row.hash})` });
      previous = { stream: row.stream_id, version: row.stream_version, hash: row.hash };
      const kind = streamFold(row.stream_id);
      const folded = ends.has(row.stream_id) ? ends.get(row.stream_id)?.state : kind.initial;
      try {
        ends.set(row.stream_id, { version: row.stream_version, state: kind.evolve(folded, decodeEventRow(row).event) });
      } catch (error) {
        problems.push({ ...where, reason: `does not decode: ${(error as Error).message}` });
        ends.set(row.stream_id, { version: row.stream_version, state: folded });
      }
    }
    events += rows.length;
    onProgress(events);
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < BATCH) return { events, streams };
    after = { stream: last.stream_id, version: last.stream_version };
  }
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
  for (const stream of ends.keys()) {
    if (!rows.some((row) => row.stream_id === stream)) problems.push({ kind: 'stream', stream, reason: 'has events but no stream record' });
  }
};

/** Re-hashes every blob a version refers to. */
const verifyBlobs = async (sql: SqlExecutor, blobs: BlobStore, problems: LedgerProblem[]) => {
  const { rows } = await sql.query<{ key: string; sha256: string; size: number }>(
    `SELECT DISTINCT data->>'blob_key' AS key, data->>'sha256' AS sha256, (data->>'size')::bigint AS size
     FROM events WHERE type IN ('StatePushed', 'StateRolledBack') ORDER BY 1`,
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

/** Proves the ledger unaltered: every hash chain recomputes, every referenced blob re-hashes to its address. */
export const verifyLedger = async (sql: SqlExecutor, blobs: BlobStore, onProgress: (events: number) => void = () => undefined): Promise<VerifyReport> => {
  const problems: LedgerProblem[] = [];
  const ends = new Map<string, StreamEnd>();
  const { events, streams } = await verifyChains(sql, problems, ends, onProgress);
  await verifyStreams(sql, problems, ends);
  const checkedBlobs = await verifyBlobs(sql, blobs, problems);
  return { events, streams, blobs: checkedBlobs, problems };
};

export const describeProblem = (problem: LedgerProblem): string => {
  switch (problem.kind) {
    case 'event':
      return `event at position ${problem.position} (state ${problem.stream}, stream version ${problem.version}) ${problem.reason}`;
    case 'stream':
      return `state ${problem.stream} ${problem.reason}`;
    case 'blob':
      return `blob ${problem.key} ${problem.reason}`;
  }
};
