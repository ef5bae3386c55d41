import type { AsyncProjection } from './async-projection.js';
import { contentsIndex } from './contents-index.js';
import { runsProjection } from './runs.js';

/** Every asynchronous projection: what `serve` runs and `replay` rebuilds. */
export const asyncProjections: readonly AsyncProjection[] = [contentsIndex, runsProjection];
