import type * as E from 'fp-ts/lib/Either.js';
import type { EventMetadata, LedgerEvent, RecordedEvent, StateEvent } from '../events/events.js';
import type { LedgerState } from './state.js';

export interface LoadedStream<S = LedgerState> {
  readonly state: S;
  /** Stream version the state was folded up to; 0 for a stream with no events. */
  readonly version: number;
}

export interface StreamVersionConflict {
  readonly type: 'StreamVersionConflict';
  readonly streamId: string;
}

export interface AppendRequest<S = LedgerState, Ev extends LedgerEvent = StateEvent> {
  readonly streamId: string;
  readonly expectedVersion: number;
  readonly events: readonly Ev[];
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
  /** The stream's state after these events, kept beside the stream version as its snapshot. */
  readonly stateAfter: S;
}

/** One unit of work on the ledger: everything in it commits together or not at all. */
export interface LedgerTransaction<S = LedgerState, Ev extends LedgerEvent = StateEvent> {
  load(streamId: string): Promise<LoadedStream<S>>;
  /** Appends only if the stream is still at expectedVersion; applies the inline projections. */
  append(request: AppendRequest<S, Ev>): Promise<E.Either<StreamVersionConflict, Array<RecordedEvent<Ev>>>>;
}

/** The ledger's streams of one kind (states, or access), with that kind's state. */
export interface EventStore<S = LedgerState, Ev extends LedgerEvent = StateEvent> {
  /** Runs work in one transaction; commits on Right, rolls back on Left or on a thrown error. */
  transaction<L, R>(work: (tx: LedgerTransaction<S, Ev>) => Promise<E.Either<L, R>>): Promise<E.Either<L, R>>;
  /** Loads a stream outside any transaction (for cheap early refusals only, never the final word). */
  load(streamId: string): Promise<LoadedStream<S>>;
}
