import type { InlineProjection } from '../storage/inline-projection.js';
import { project, readModelTables } from './read-model.js';

/** The read models, applied in the appending statement: handed to the event store at start-up. */
export const readModelsInline: InlineProjection = {
  tables: readModelTables,
  changes: (events) => events.flatMap(project),
};
