import type { BodyLimits } from '../bodies/ingest.js';
import type { AccessState } from '../access/state.js';
import type { CommandObserver } from '../commands/handler.js';
import type { EventStore } from '../commands/ports.js';
import type { AccessEvent } from '../events/access-events.js';
import type { SqlExecutor } from '../storage/sql.js';
import type { BlobStore } from '../storage/blobs/blob-store.js';

/** The ports the use cases below are written against. */
export interface LedgerDeps {
  readonly store: EventStore;
  /** The access stream: users, tokens and grants. */
  readonly accessStore: EventStore<AccessState, AccessEvent>;
  readonly db: SqlExecutor;
  readonly blobs: BlobStore;
  readonly limits: BodyLimits;
  /** Told how every command ends (metrics); none in tools that nobody watches. */
  readonly commandObserver?: CommandObserver | undefined;
}
