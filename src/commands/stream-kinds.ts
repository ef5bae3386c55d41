import type * as t from 'io-ts';
import { ACCESS_STATE_SCHEMA, AccessStateCodec, evolveAccess, initialAccess, type AccessState } from '../access/state.js';
import { ACCESS_STREAM, isAccessEventType, type AccessEvent } from '../events/access-events.js';
import { isStateEvent, type LedgerEvent, type StateEvent } from '../events/events.js';
import { evolve, initialState, LEDGER_STATE_SCHEMA, LedgerStateCodec, type LedgerState } from './state.js';

/** How one kind of stream folds into its decider's state, and how that state is snapshotted. */
export interface StreamKind<S, Ev extends LedgerEvent> {
  readonly initial: S;
  readonly evolve: (state: S, event: Ev) => S;
  readonly snapshot: t.Decoder<unknown, S>;
  /** The shape of S that stored snapshots must have (older ones are ignored and the stream refolded). */
  readonly snapshotSchema: number;
  readonly owns: (event: LedgerEvent) => event is Ev;
}

export const stateStreams: StreamKind<LedgerState, StateEvent> = {
  initial: initialState,
  evolve,
  snapshot: LedgerStateCodec,
  snapshotSchema: LEDGER_STATE_SCHEMA,
  owns: isStateEvent,
};

export const accessStreams: StreamKind<AccessState, AccessEvent> = {
  initial: initialAccess,
  evolve: evolveAccess,
  snapshot: AccessStateCodec,
  snapshotSchema: ACCESS_STATE_SCHEMA,
  owns: (event): event is AccessEvent => isAccessEventType(event.type),
};

const kindOf = (streamId: string): StreamKind<unknown, LedgerEvent> =>
  (streamId === ACCESS_STREAM ? accessStreams : stateStreams) as unknown as StreamKind<unknown, LedgerEvent>;

/** Folds any stream's events, whatever its kind: for the tools that read the whole ledger (replay, verify). */
export const streamFold = (streamId: string) => {
  const kind = kindOf(streamId);
  return {
    initial: kind.initial,
    snapshotSchema: kind.snapshotSchema,
    evolve: (state: unknown, event: LedgerEvent): unknown => {
      if (!kind.owns(event)) throw new Error(`a ${(event as { type: string }).type} event does not belong in stream ${streamId}`);
      return kind.evolve(state, event);
    },
  };
};
