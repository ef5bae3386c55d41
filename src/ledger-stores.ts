import type pg from 'pg';
import type { AccessState } from './access/state.js';
import type { EventStore } from './commands/ports.js';
import { accessStreams, stateStreams } from './commands/stream-kinds.js';
import type { AccessEvent } from './events/access-events.js';
import { readModelsInline } from './projections/inline.js';
import { commitNotifier } from './storage/commit-notifier.js';
import { pgStreamStore } from './storage/pg-event-store.js';

export interface LedgerStores {
  /** The states' streams. */
  readonly store: EventStore;
  /** The access stream: users, tokens and grants. */
  readonly accessStore: EventStore<AccessState, AccessEvent>;
}

/**
 * The event stores of one process, with the read models handed in as inline projections and one
 * notifier announcing their commits: where storage and projections are put together.
 */
export const ledgerStores = (pool: pg.Pool, onNotifyError: (error: Error) => void = () => undefined): LedgerStores => {
  const options = { inline: [readModelsInline], onCommit: commitNotifier(pool, onNotifyError) };
  return { store: pgStreamStore(pool, stateStreams, options), accessStore: pgStreamStore(pool, accessStreams, options) };
};
