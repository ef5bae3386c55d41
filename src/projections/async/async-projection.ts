import type { RecordedEvent } from '../../events/events.js';
import type { BodyReader } from './stored-contents.js';
import type { SqlExecutor } from '../../storage/sql.js';

/** What an asynchronous projection may use besides the events: the stored bodies, read as contents. */
export interface ProjectionContext {
  readonly bodies: BodyReader;
}

/**
 * Bytes of bodies one batch may refer to (past them, the batch ends with the body that crossed
 * the line): a projection holds what it reads of a batch's bodies until the batch is written, and
 * what it reads of a 500 MB state can take a hundred megabytes of memory.
 */
export const BATCH_BODY_BYTES = 64 * 1024 * 1024;

/** Row changes prepared for one batch, written inside the batch's transaction (with the checkpoint). */
export type BatchWrite = (sql: SqlExecutor) => Promise<void>;

/**
 * A read model kept up to date after the events commit, by the projection runner (marten's
 * "async daemon"), because it needs more than the events: the contents index reads each version's
 * body. The runner and `replay` both drive it, so it is defined once. Its SQL names its tables
 * unqualified: replay rebuilds them in a schema of its own through search_path.
 */
export interface AsyncProjection {
  /** Its checkpoint's name and its advisory lock's key; also the metrics label. */
  readonly name: string;
  /** The tables it owns: emptied and rebuilt by `replay`. */
  readonly tables: readonly string[];
  /**
   * Prepares a batch of events in commit order: the slow part (reading bodies) runs here, outside
   * any transaction, so that no transaction stays open (and holds back every reader of final
   * events) while bodies are read. A body that cannot be read as a state is part of the result
   * (recorded as unreadable), not an error; an error (the blob store down) makes the runner try
   * the batch again later.
   *
   * `tables` reads the projection's own tables as the last batch left them (outside any
   * transaction: only the holder of the projection's lock writes them, and a batch prepared
   * from rows another runner has moved on from is never written, see applyBatch).
   */
  prepare(events: readonly RecordedEvent[], context: ProjectionContext, tables: SqlExecutor): Promise<BatchWrite>;
}
