import type * as E from 'fp-ts/lib/Either.js';
import type { EventMetadata, LedgerEvent, RecordedEvent, StateEvent } from '../events/events.js';
import type { ChainHead } from '../events/hash-chain.js';
import type { LedgerState } from './state.js';

export interface LoadedStream<S = LedgerState> {
  readonly streamId: string;
  readonly state: S;
  /** Stream version the state was folded up to; 0 for a stream with no events. */
  readonly version: number;
  /** Read from the database just now; false when it came from this process's cache, which may be behind. */
  readonly fresh: boolean;
  /** Where the stream's hash chain leaves off at that version: the next event links to it. */
  readonly chain: ChainHead;
}

export interface StreamVersionConflict {
  readonly type: 'StreamVersionConflict';
  readonly streamId: string;
}

export interface AppendRequest<S = LedgerState, Ev extends LedgerEvent = StateEvent> {
  readonly events: readonly Ev[];
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
  /** The stream's state after these events, kept beside the stream version as its snapshot. */
  readonly stateAfter: S;
}

/** The ledger's streams of one kind (states, or access), with that kind's state. */
export interface EventStore<S = LedgerState, Ev extends LedgerEvent = StateEvent> {
  /** The stream's state; `fresh` skips the process's cache (to confirm a refusal decided from it). */
  load(streamId: string, options?: { readonly fresh?: boolean }): Promise<LoadedStream<S>>;
  /**
   * Appends the events and applies the inline projections in one statement, only if the stream
   * is still at the loaded version; a conflict means another writer moved it first.
   */
  append(loaded: LoadedStream<S>, request: AppendRequest<S, Ev>): Promise<E.Either<StreamVersionConflict, Array<RecordedEvent<Ev>>>>;
}
