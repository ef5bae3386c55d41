import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import type { EventMetadata, RecordedEvent } from '../events/events.js';
import type { Command, CommandMetadata } from './commands.js';
import { checkWriteLock, decide } from './decide.js';
import type { CommandError, DomainError } from './errors.js';
import type { EventStore, StreamVersionConflict } from './ports.js';
import { fold, type LedgerState } from './state.js';

/** What a command did: the events it appended (none for a retry or a no-op) and the stream's state after it. */
export interface Handled {
  readonly events: RecordedEvent[];
  readonly state: LedgerState;
}

/** Version conflicts are rare (two writers on one state at the same instant); a few retries settle them. */
export const MAX_ATTEMPTS = 5;

const toEventMetadata = (m: CommandMetadata): EventMetadata => ({
  actor: m.actor,
  remote_address: m.remoteAddress,
  user_agent: m.userAgent,
  request_id: m.requestId,
});

/**
 * Load the stream, decide, append with the expected version, all in one transaction.
 * The lock decision is taken from the stream inside that transaction, never from a read model.
 */
export const handleCommand =
  (store: EventStore) =>
  (streamId: string, command: Command, metadata: CommandMetadata): TE.TaskEither<CommandError, Handled> =>
  async () => {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const outcome = await store.transaction(async (tx): Promise<E.Either<DomainError | StreamVersionConflict, Handled>> => {
        const stream = await tx.load(streamId);
        const decision = decide(command, stream.state);
        if (E.isLeft(decision)) return decision;
        if (decision.right.length === 0) return E.right({ events: [], state: stream.state });
        const state = fold(decision.right, stream.state);
        const appended = await tx.append({
          streamId,
          expectedVersion: stream.version,
          events: decision.right,
          metadata: toEventMetadata(metadata),
          recordedAt: metadata.now,
          stateAfter: state,
        });
        return E.map((events: RecordedEvent[]) => ({ events, state }))(appended);
      });
      if (E.isRight(outcome)) return outcome;
      const error = outcome.left;
      if (error.type !== 'StreamVersionConflict') return E.left(error);
    }
    return E.left({ type: 'ConcurrencyConflict', streamId, attempts: MAX_ATTEMPTS });
  };

/**
 * Refuses a write early (before a large body is uploaded) when the lock already forbids it.
 * Advisory only: the write is decided again inside its transaction.
 */
export const precheckWrite =
  (store: EventStore) =>
  (streamId: string, lockId: string | null): TE.TaskEither<DomainError, void> =>
  async () =>
    checkWriteLock((await store.load(streamId)).state, lockId);
