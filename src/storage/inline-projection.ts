import type { LedgerEvent, ProjectableEvent } from '../events/events.js';

/** A change to one row of a read-model table, keyed by the table's primary-key columns. */
export type RowChange =
  | { readonly kind: 'upsert'; readonly table: string; readonly row: object }
  | { readonly kind: 'delete'; readonly table: string; readonly key: Readonly<Record<string, string>> }
  /** Sets some columns of an existing row. */
  | { readonly kind: 'update'; readonly table: string; readonly key: Readonly<Record<string, string>>; readonly set: Readonly<Record<string, unknown>> };

/**
 * A read model kept in the appending statement itself (emmett's `projections.inline`), handed
 * to the event store: it commits with the events or not at all. The store knows nothing of the
 * tables beyond what the projection declares.
 */
export interface InlineProjection {
  /** The tables the projection writes, with their primary-key columns. */
  readonly tables: Readonly<Record<string, readonly string[]>>;
  /** The row changes these events make, in order. */
  changes(events: readonly ProjectableEvent<LedgerEvent>[]): readonly RowChange[];
}
