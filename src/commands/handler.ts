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

/**
 * How a command ended, for whoever watches (metrics): `accepted` appended events, `unchanged`
 * appended none (a retry, a no-op), `refused` is the decider's error (or the conflict after every
 * attempt), `failed` a thrown fault (PostgreSQL down, say).
 */
export type CommandOutcome<Err = unknown> =
  | { readonly kind: 'accepted' | 'unchanged' }
  | { readonly kind: 'refused'; readonly error: Err | ConcurrencyConflict }
  | { readonly kind: 'failed' };

export interface CommandReport<Err = unknown> {
  /** The command's `type` (PushState, LockState, ...), or `unknown`. */
  readonly command: string;
  readonly outcome: CommandOutcome<Err>;
  /** Appends that found the stream moved by another writer (each one retried, up to MAX_ATTEMPTS). */
  readonly versionConflicts: number;
  /** Decisions taken again because the cached stream was behind. */
  readonly staleReloads: number;
}

/** The handler's observer port: told how every command ended. Must not throw. */
export interface CommandObserver {
  readonly onOutcome: (report: CommandReport) => void;
}

const commandName = (command: unknown): string => {
  const type = typeof command === 'object' && command !== null ? (command as { type?: unknown }).type : undefined;
  return typeof type === 'string' && /^\w{1,64}$/.test(type) ? type : 'unknown';
};

/** Never lets a faulty observer change a command's result. */
const tell = (observer: CommandObserver | undefined, report: CommandReport): void => {
  try {
    observer?.onOutcome(report);
  } catch {
    // an observer's bug is not the command's failure
  }
};

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
    observer?: CommandObserver,
  ) =>
  (streamId: string, command: C, metadata: CommandMetadata): TE.TaskEither<Err | ConcurrencyConflict, Handled<S, Ev>> =>
  async () => {
    let conflicts = 0;
    let reloads = 0;
    const report = (outcome: CommandOutcome<Err>) =>
      tell(observer, { command: commandName(command), outcome, versionConflicts: conflicts, staleReloads: reloads });
    try {
      let stream = await store.load(streamId);
      for (;;) {
        const decision = decideCommand(command, stream.state, metadata);
        if (E.isLeft(decision) || decision.right.length === 0) {
          if (!stream.fresh) {
            reloads++;
            stream = await store.load(streamId, { fresh: true });
            continue;
          }
          report(E.isLeft(decision) ? { kind: 'refused', error: decision.left } : { kind: 'unchanged' });
          return E.isLeft(decision) ? decision : E.right({ events: [], state: stream.state });
        }
        const state = decision.right.reduce(evolveState, stream.state);
        const appended = await store.append(stream, {
          events: decision.right,
          metadata: toEventMetadata(metadata),
          recordedAt: metadata.now,
          stateAfter: state,
        });
        if (E.isRight(appended)) {
          report({ kind: 'accepted' });
          return E.right({ events: appended.right, state });
        }
        if (++conflicts === MAX_ATTEMPTS) {
          const conflict: ConcurrencyConflict = { type: 'ConcurrencyConflict', streamId, attempts: MAX_ATTEMPTS };
          report({ kind: 'refused', error: conflict });
          return E.left(conflict);
        }
        stream = await store.load(streamId, { fresh: true });
      }
    } catch (error) {
      report({ kind: 'failed' });
      throw error;
    }
  };

/** A state's commands; `observer` (metrics) is told how each ends. */
export const handleCommand = (store: EventStore, observer?: CommandObserver) =>
  commandHandler<LedgerState, Command, StateEvent, DomainError>(
    store,
    (command, state, metadata) => decide(command, state, { caller: callerOf(metadata), now: metadata.now }),
    evolve,
    observer,
  );

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
 * Advisory only: the write is decided again when it is appended. A refusal here ends the push, so
 * the observer is told of it as a PushState refused.
 */
export const precheckWrite =
  (store: EventStore, observer?: CommandObserver) =>
  (streamId: string, lockId: string | null, caller: LockTaker | undefined): TE.TaskEither<DomainError, void> =>
  async () => {
    const checked = checkWriteLock(await confirmedState(store, streamId, (state) => E.isLeft(checkWriteLock(state, lockId, caller))), lockId, caller);
    if (E.isLeft(checked)) tell(observer, { command: 'PushState', outcome: { kind: 'refused', error: checked.left }, versionConflicts: 0, staleReloads: 0 });
    return checked;
  };
