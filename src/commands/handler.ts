import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import type { EventMetadata, LedgerEvent, LockTaker, RecordedEvent, StateEvent } from '../events/events.js';
import { callerOf, type Command, type CommandMetadata } from './commands.js';
import { checkWriteLock, decide } from './decide.js';
import type { ConcurrencyConflict, DomainError } from './errors.js';
import type { EventStore } from './ports.js';
import { evolve, type LedgerState } from './state.js';

/** What a command did: the events it appended (none for a retry or a no-op) and the stream's state after it. */
export interface Handled<S = LedgerState, Ev extends LedgerEvent = StateEvent> {
  readonly events: Array<RecordedEvent<Ev>>;
  readonly state: S;
}

/** Version conflicts are rare (two writers on one stream at the same instant); a few retries settle them. */
export const MAX_ATTEMPTS = 5;

const toEventMetadata = (m: CommandMetadata): EventMetadata => ({
  actor: m.actor,
  remote_address: m.remoteAddress,
  user_agent: m.userAgent,
  request_id: m.requestId,
  ...(m.claims === undefined ? {} : { claims: m.claims }),
});

/**
 * Load the stream, decide, append at the loaded version; on a conflict (another writer moved the
 * stream) reload and decide again. The decision is taken from the stream, never from a read model.
 * A stream may come from the store's cache: an append from it commits only at exactly that version,
 * and a refusal or a no-op decided from it is decided again from the database before it stands.
 */
export const commandHandler =
  <S, C, Ev extends LedgerEvent, Err>(
    store: EventStore<S, Ev>,
    decideCommand: (command: C, state: S, metadata: CommandMetadata) => E.Either<Err, Ev[]>,
    evolveState: (state: S, event: Ev) => S,
  ) =>
  (streamId: string, command: C, metadata: CommandMetadata): TE.TaskEither<Err | ConcurrencyConflict, Handled<S, Ev>> =>
  async () => {
    let stream = await store.load(streamId);
    let conflicts = 0;
    for (;;) {
      const decision = decideCommand(command, stream.state, metadata);
      if (E.isLeft(decision) || decision.right.length === 0) {
        if (!stream.fresh) {
          stream = await store.load(streamId, { fresh: true });
          continue;
        }
        return E.isLeft(decision) ? decision : E.right({ events: [], state: stream.state });
      }
      const state = decision.right.reduce(evolveState, stream.state);
      const appended = await store.append(stream, {
        events: decision.right,
        metadata: toEventMetadata(metadata),
        recordedAt: metadata.now,
        stateAfter: state,
      });
      if (E.isRight(appended)) return E.right({ events: appended.right, state });
      if (++conflicts === MAX_ATTEMPTS) return E.left({ type: 'ConcurrencyConflict', streamId, attempts: MAX_ATTEMPTS });
      stream = await store.load(streamId, { fresh: true });
    }
  };

/** A state's commands. */
export const handleCommand = (store: EventStore) =>
  commandHandler<LedgerState, Command, StateEvent, DomainError>(store, (command, state, metadata) => decide(command, state, callerOf(metadata)), evolve);

/**
 * The stream's state for an answer given without appending (an early refusal, a retry found
 * already done): a cached state that would give that answer is read again from the database first,
 * since another process may have moved the stream.
 */
export const confirmedState = async <S, Ev extends LedgerEvent>(store: EventStore<S, Ev>, streamId: string, answers: (state: S) => boolean): Promise<S> => {
  const loaded = await store.load(streamId);
  return loaded.fresh || !answers(loaded.state) ? loaded.state : (await store.load(streamId, { fresh: true })).state;
};

/**
 * Refuses a write early (before a large body is uploaded) when the lock already forbids it.
 * Advisory only: the write is decided again when it is appended.
 */
export const precheckWrite =
  (store: EventStore) =>
  (streamId: string, lockId: string | null, caller: LockTaker | undefined): TE.TaskEither<DomainError, void> =>
  async () =>
    checkWriteLock(await confirmedState(store, streamId, (state) => E.isLeft(checkWriteLock(state, lockId, caller))), lockId, caller);
