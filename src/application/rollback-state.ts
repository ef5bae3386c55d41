import * as E from 'fp-ts/lib/Either.js';
import type { BodyError } from '../bodies/body-error.js';
import { ingestState } from '../bodies/ingest.js';
import { locateSerial, spliceSerial } from '../bodies/serial-rewrite.js';
import { callerOf, type CommandMetadata, type RollbackTarget, type StoredBody } from '../commands/commands.js';
import { checkWriteLock, rollbackSerial } from '../commands/decide.js';
import type { CommandError } from '../commands/errors.js';
import { handleCommand, type Handled } from '../commands/handler.js';
import { findVersionRecord, prunedError, type VersionEntry } from '../projections/queries.js';
import { claimBlob } from '../storage/blobs/blob-guards.js';
import type { LedgerDeps } from './deps.js';
import { headVersion, withStoredBody } from './store-body.js';

export interface RollbackRequest {
  readonly version: number;
  readonly reason: string;
  readonly force: boolean;
  readonly lockId: string | null;
}

export interface RolledBack {
  readonly version: number;
  readonly restored: number;
  readonly serial: number;
}

/** The head may move while a large body is rewritten; the decider then asks for a fresh one. */
const ATTEMPTS = 3;

const storedBodyOf = (entry: VersionEntry): StoredBody => ({
  blobKey: entry.blob_key,
  sha256: entry.sha256,
  md5: entry.md5,
  size: entry.size,
  serial: entry.serial,
  lineage: entry.lineage,
  terraformVersion: entry.terraform_version,
  encrypted: entry.encrypted,
  resourceCount: entry.resource_count,
  outputCount: entry.output_count,
});

/**
 * Restores version V as a new version, never rewriting history. A plain state gets a serial above
 * every serial seen so far (rewritten in place, the rest byte for byte); an encrypted one is
 * restored exactly.
 */
export const rollbackState =
  (deps: LedgerDeps) =>
  async (name: string, request: RollbackRequest, metadata: CommandMetadata): Promise<E.Either<CommandError | BodyError, RolledBack>> => {
    const attempt = async (): Promise<E.Either<CommandError | BodyError, RolledBack>> => {
      // Early refusals before the (possibly large) body is rewritten, from the database itself (not
      // this process's cache, which may be behind); the decider checks all again.
      const { state } = await deps.store.load(name, { fresh: true });
      const allowed = checkWriteLock(state, request.lockId, callerOf(metadata));
      if (E.isLeft(allowed)) return allowed;
      const entry = await findVersionRecord(deps.db, name, request.version);
      if (entry === undefined) return E.left({ type: 'VersionNotFound', version: request.version });
      const pruned = prunedError(name, entry);
      if (pruned !== undefined) return E.left(pruned);
      const target: RollbackTarget = { version: entry.version, serial: entry.serial, lineage: entry.lineage, encrypted: entry.encrypted };
      if (state.head !== null && state.head.lineage !== target.lineage && !request.force) {
        return E.left({ type: 'LineageMismatch', head: state.head.lineage, target: target.lineage });
      }
      const serialOrError = rollbackSerial(state, target);
      if (E.isLeft(serialOrError)) return serialOrError;
      const serial = serialOrError.right;
      const run = async (body: StoredBody) =>
        E.map((handled: Handled) => ({ version: headVersion(handled), restored: target.version, serial }))(
          await handleCommand(deps.store, deps.commandObserver)(name, { type: 'RollbackState', lockId: request.lockId, target, body, reason: request.reason, force: request.force }, { ...metadata, now: new Date() })(),
        );
      if (serial === entry.serial) {
        // The new version refers to the stored body as it is: claim its key before the event
        // refers to it, then make sure retention did not remove it in the meantime.
        await claimBlob(deps.db, entry.blob_key);
        if (!(await deps.blobs.exists(entry.blob_key))) {
          const now = await findVersionRecord(deps.db, name, request.version);
          const gone = now === undefined ? undefined : prunedError(name, now);
          if (gone !== undefined) return E.left(gone);
          throw new Error(`blob ${entry.blob_key} of version ${entry.version} is missing from the blob store`);
        }
        return run(storedBodyOf(entry));
      }
      const rewritten = await rewriteSerial(deps, entry, serial);
      if (E.isLeft(rewritten)) return rewritten;
      return withStoredBody(deps, rewritten.right, run);
    };

    let outcome = await attempt();
    for (let i = 1; i < ATTEMPTS && E.isLeft(outcome) && outcome.left.type === 'RollbackStale'; i++) outcome = await attempt();
    return outcome;
  };

const rewriteSerial = async (deps: LedgerDeps, entry: VersionEntry, serial: number) => {
  const open = async () => {
    const stream = await deps.blobs.get(entry.blob_key);
    if (stream === null) throw new Error(`blob ${entry.blob_key} of version ${entry.version} is missing from the blob store`);
    return stream;
  };
  const location = await locateSerial(await open());
  if (location === undefined) throw new Error(`version ${entry.version} has no top-level serial to rewrite`);
  return ingestState(spliceSerial(await open(), location, serial), {}, { ...deps.limits, maxBytes: Number.MAX_SAFE_INTEGER });
};
