import type { Readable } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import type { BodyError } from '../bodies/body-error.js';
import { discardBody, inspectBody, receiveBody, type Declared } from '../bodies/ingest.js';
import { callerOf, type CommandMetadata } from '../commands/commands.js';
import { isRetriedPush } from '../commands/decide.js';
import type { CommandError } from '../commands/errors.js';
import { confirmedState, handleCommand, precheckWrite } from '../commands/handler.js';
import type { LedgerDeps } from './deps.js';
import { headVersion, withInspectedBody } from './store-body.js';

export interface Pushed {
  readonly version: number;
  readonly sha256: string;
  readonly size: number;
}

/**
 * A state push: check the lock early, take in the body, upload its blob while checking it, then
 * append the event. A retry of the push that made the current version (same bytes, same lock)
 * answers that version.
 */
export const pushState =
  (deps: LedgerDeps) =>
  async (name: string, lockId: string | null, body: Readable, declared: Declared, metadata: CommandMetadata): Promise<E.Either<CommandError | BodyError, Pushed>> => {
    // Refuse before receiving hundreds of MB when the lock already forbids the write.
    const allowed = await precheckWrite(deps.store, deps.commandObserver)(name, lockId, callerOf(metadata))();
    if (E.isLeft(allowed)) return allowed;
    const received = await receiveBody(body, declared, deps.limits);
    if (E.isLeft(received)) return received;
    const { sha256, size } = received.right;
    const pushed = (version: number): Pushed => ({ version, sha256, size });
    try {
      const state = await confirmedState(deps.store, name, (current) => isRetriedPush(current, lockId, sha256));
      if (state.head !== null && isRetriedPush(state, lockId, sha256)) {
        const { version } = state.head;
        // Same bytes as the current version, so nothing to store; the Content-MD5 header is still checked.
        return E.map(() => pushed(version))(await inspectBody(received.right, declared));
      }
      const stored = await withInspectedBody(deps, received.right, declared, async (stored) =>
        // The version exists from now on, not from when its upload began.
        E.map(headVersion)(await handleCommand(deps.store, deps.commandObserver)(name, { type: 'PushState', lockId, body: stored }, { ...metadata, now: new Date() })()),
      );
      return E.map(pushed)(stored);
    } finally {
      await discardBody(received.right); // whatever happened, the body (it holds secrets) leaves the disk
    }
  };
