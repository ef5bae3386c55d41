import type { Readable } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import { ingestState, type BodyError, type Declared } from '../bodies/ingest.js';
import { callerOf, type CommandMetadata } from '../commands/commands.js';
import { isRetriedPush } from '../commands/decide.js';
import type { CommandError } from '../commands/errors.js';
import { handleCommand, precheckWrite } from '../commands/handler.js';
import type { LedgerDeps } from './deps.js';
import { discardIngested, headVersion, withStoredBody } from './store-body.js';

export interface Pushed {
  readonly version: number;
  readonly sha256: string;
  readonly size: number;
}

/**
 * A state push: check the lock early, take in the body, store its blob, then append the event.
 * A retry of the push that made the current version (same bytes, same lock) answers that version.
 */
export const pushState =
  (deps: LedgerDeps) =>
  async (name: string, lockId: string | null, body: Readable, declared: Declared, metadata: CommandMetadata): Promise<E.Either<CommandError | BodyError, Pushed>> => {
    // Refuse before receiving hundreds of MB when the lock already forbids the write.
    const allowed = await precheckWrite(deps.store)(name, lockId, callerOf(metadata))();
    if (E.isLeft(allowed)) return allowed;
    const ingested = await ingestState(body, declared, deps.limits);
    if (E.isLeft(ingested)) return ingested;
    const { sha256, size } = ingested.right;
    try {
      const { state } = await deps.store.load(name);
      if (state.head !== null && isRetriedPush(state, lockId, sha256)) return E.right({ version: state.head.version, sha256, size });
      const stored = await withStoredBody(deps.blobs, ingested.right, async (body) =>
        // The version exists from now on, not from when its upload began.
        E.map(headVersion)(await handleCommand(deps.store)(name, { type: 'PushState', lockId, body }, { ...metadata, now: new Date() })()),
      );
      return E.map((version: number) => ({ version, sha256, size }))(stored);
    } finally {
      await discardIngested(ingested.right); // whatever happened, the body (it holds secrets) leaves the disk
    }
  };
