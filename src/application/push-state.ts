import type { Readable } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import { ingestState, type BodyError, type Declared } from '../bodies/ingest.js';
import type { CommandMetadata } from '../commands/commands.js';
import type { CommandError } from '../commands/errors.js';
import { handleCommand, precheckWrite } from '../commands/handler.js';
import type { RecordedEvent } from '../events/events.js';
import type { LedgerDeps } from './deps.js';
import { withStoredBody, writtenVersion } from './store-body.js';

export interface Pushed {
  readonly version: number | null;
  readonly sha256: string;
  readonly size: number;
}

/** A state push: check the lock early, take in the body, store its blob, then append the event. */
export const pushState =
  (deps: LedgerDeps) =>
  async (name: string, lockId: string | null, body: Readable, declared: Declared, metadata: CommandMetadata): Promise<E.Either<CommandError | BodyError, Pushed>> => {
    // Refuse before receiving hundreds of MB when the lock already forbids the write.
    const allowed = await precheckWrite(deps.store)(name, lockId)();
    if (E.isLeft(allowed)) return allowed;
    const ingested = await ingestState(body, declared, deps.limits);
    if (E.isLeft(ingested)) return ingested;
    const { sha256, size } = ingested.right;
    return withStoredBody(deps.blobs, ingested.right, async (stored) =>
      E.map((events: RecordedEvent[]) => ({ version: writtenVersion(events), sha256, size }))(
        // The version exists from now on, not from when its upload began.
        await handleCommand(deps.store)(name, { type: 'PushState', lockId, body: stored }, { ...metadata, now: new Date() })(),
      ),
    );
  };
