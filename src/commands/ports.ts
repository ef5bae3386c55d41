import type * as E from 'fp-ts/lib/Either.js';
import type { EventMetadata, RecordedEvent, StateEvent } from '../events/events.js';
import type { LedgerState } from './state.js';

export interface LoadedStream {
  readonly state: LedgerState;
  /** Stream version the state was folded up to; 0 for a stream with no events. */
  readonly version: number;
}

export interface StreamVersionConflict {
  readonly type: 'StreamVersionConflict';
  readonly streamId: string;
}

export interface AppendRequest {
  readonly streamId: string;
  readonly expectedVersion: number;
  readonly events: readonly StateEvent[];
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
  /** The stream's state after these events, kept beside the stream version as its snapshot. */
  readonly stateAfter: LedgerState;
}

/** One unit of work on the ledger: everything in it commits together or not at all. */
export interface LedgerTransaction {
  load(streamId: string): Promise<LoadedStream>;
  /** Appends only if the stream is still at expectedVersion; applies the inline projections. */
  append(request: AppendRequest): Promise<E.Either<StreamVersionConflict, RecordedEvent[]>>;
}

export interface EventStore {
  /** Runs work in one transaction; commits on Right, rolls back on Left or on a thrown error. */
  transaction<L, R>(work: (tx: LedgerTransaction) => Promise<E.Either<L, R>>): Promise<E.Either<L, R>>;
  /** Loads a stream outside any transaction (for cheap early refusals only, never the final word). */
  load(streamId: string): Promise<LoadedStream>;
}
