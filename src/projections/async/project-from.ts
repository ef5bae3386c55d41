import type pg from 'pg';
import { eventsInCommitOrder, type CommitCursor } from '../../storage/event-reads.js';
import { BATCH_BODY_BYTES, type AsyncProjection, type ProjectionContext } from './async-projection.js';

const BATCH = 500;

/**
 * Feeds a projection every event after `from` in commit order (with `committedOnly`, only final
 * ones), writing each batch as it comes, with no checkpoint: what `replay` rebuilds with, into
 * whatever schema search_path names first. Answers the cursor after the last event.
 */
export const projectFrom = async (
  client: pg.ClientBase,
  projection: AsyncProjection,
  context: ProjectionContext,
  from: CommitCursor,
  committedOnly: boolean,
  onBatch: (count: number) => void = () => undefined,
): Promise<CommitCursor> => {
  let cursor = from;
  for (;;) {
    const batch = await eventsInCommitOrder(client, cursor, { committedOnly, until: null, limit: BATCH, maxBodyBytes: BATCH_BODY_BYTES });
    if (batch.events.length === 0) return cursor;
    const write = await projection.prepare(batch.events, context, client);
    await write(client);
    cursor = batch.cursor;
    onBatch(batch.events.length);
  }
};
