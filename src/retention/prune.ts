import * as E from 'fp-ts/lib/Either.js';
import type pg from 'pg';
import type { CommandMetadata } from '../commands/commands.js';
import { handleCommand } from '../commands/handler.js';
import type { EventStore } from '../commands/ports.js';
import { pruneCandidates, statesWithVersions, type PruneCandidateRow } from '../projections/queries.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';
import { deleteUnreferencedBlob, type GuardedDeletion } from '../storage/blobs/blob-guards.js';
import { retentionFor, type Retention } from './policy.js';

export interface PruneDeps {
  readonly pool: pg.Pool;
  readonly store: EventStore;
  readonly blobs: BlobStore;
}

export interface PrunedVersion {
  readonly state: string;
  readonly version: number;
  readonly blobKey: string;
  readonly size: number;
  readonly policy: string;
}

export interface BlobOutcome {
  readonly key: string;
  readonly size: number;
  /** deleted (or, in a dry run, would be); claimed: a write in progress refers to it (gc takes it later); referenced: a kept version still does. */
  readonly outcome: GuardedDeletion;
}

export interface PruneReport {
  readonly dryRun: boolean;
  readonly versions: readonly PrunedVersion[];
  readonly blobs: readonly BlobOutcome[];
  /** Bytes of the blobs deleted (or that would be). */
  readonly bytesSaved: number;
}

const PAGE = 1000;
const STATES_PAGE = 500;
/** A prune refused as stale (another prune ran) reads its candidates again, this many times. */
const ATTEMPTS = 5;

/**
 * Applies RETENTION to every state: appends VersionPruned for each version no condition of its
 * rule keeps (never the current one, never a pinned one), then deletes each pruned body that no
 * kept version of any state refers to, under its guard. A dry run decides the same and changes
 * nothing. Running it again prunes nothing twice: candidates come from the read model without the
 * pruned versions, and a command carrying facts older than another prune is refused and re-read.
 */
export const pruneLedger = async (
  deps: PruneDeps,
  retention: Retention,
  options: { readonly now: Date; readonly dryRun: boolean; readonly metadata: CommandMetadata },
): Promise<PruneReport> => {
  const run = handleCommand(deps.store);
  const versions: PrunedVersion[] = [];
  for (let after = '', names: string[] = []; ; after = names[names.length - 1] ?? after) {
    names = await statesWithVersions(deps.pool, after, STATES_PAGE);
    if (names.length === 0) break;
    for (const name of names) {
      const rule = retentionFor(retention, name);
      if (rule === null) continue;
      let from = 0;
      for (let attempt = 1; ; ) {
        const { state } = await deps.store.load(name, { fresh: true });
        const candidates: PruneCandidateRow[] = await pruneCandidates(deps.pool, name, rule, options.now, state.head?.version ?? null, { after: from, limit: PAGE });
        const last = candidates[candidates.length - 1];
        if (last === undefined) break;
        const pruned = (chosen: readonly PruneCandidateRow[]) =>
          chosen.map((c): PrunedVersion => ({ state: name, version: c.version, blobKey: c.blobKey, size: c.size, policy: rule.text }));
        if (options.dryRun) {
          versions.push(...pruned(candidates.filter((c) => !state.pinned.includes(c.version))));
          from = last.version;
          continue;
        }
        const outcome = await run(
          name,
          { type: 'PruneVersions', name, candidates: candidates.map(({ version, blobKey }) => ({ version, blobKey })), policy: rule.text, prunedSeen: state.pruned },
          { ...options.metadata, now: new Date() },
        )();
        if (E.isLeft(outcome)) {
          if ((outcome.left.type === 'PruneStale' || outcome.left.type === 'ConcurrencyConflict') && attempt++ < ATTEMPTS) continue;
          throw new Error(`pruning state ${name} was refused: ${outcome.left.type}`);
        }
        const done = new Set(outcome.right.events.flatMap((e) => (e.event.type === 'VersionPruned' ? [e.event.data.version] : [])));
        versions.push(...pruned(candidates.filter((c) => done.has(c.version))));
        from = last.version;
      }
    }
  }
  const blobs = await deleteBodies(deps, versions, options.dryRun);
  return { dryRun: options.dryRun, versions, blobs, bytesSaved: blobs.reduce((sum, b) => sum + (b.outcome === 'deleted' ? b.size : 0), 0) };
};

/**
 * The pruned bodies, each deleted once no kept version refers to it. A dry run counts a body
 * freed when only versions it would prune refer to it.
 */
const deleteBodies = async (deps: PruneDeps, versions: readonly PrunedVersion[], dryRun: boolean): Promise<BlobOutcome[]> => {
  const sizes = new Map<string, number>();
  for (const v of versions) sizes.set(v.blobKey, v.size);
  if (sizes.size === 0) return [];
  if (dryRun) {
    const { rows } = await deps.pool.query<{ blob_key: string }>(
      `SELECT DISTINCT v.blob_key FROM state_versions v
       WHERE v.blob_key = ANY($1::text[]) AND v.pruned_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset($2::jsonb) AS c(state text, version int) WHERE c.state = v.name AND c.version = v.version)`,
      [[...sizes.keys()], JSON.stringify(versions.map((v) => ({ state: v.state, version: v.version })))],
    );
    const kept = new Set(rows.map((row) => row.blob_key));
    return [...sizes].map(([key, size]) => ({ key, size, outcome: kept.has(key) ? 'referenced' : 'deleted' }));
  }
  const outcomes: BlobOutcome[] = [];
  for (const [key, size] of sizes) outcomes.push({ key, size, outcome: await deleteUnreferencedBlob(deps.pool, deps.blobs, key) });
  return outcomes;
};
