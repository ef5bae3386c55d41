import type { AsyncProjection } from './async-projection.js';
import { contentsIndex } from './contents-index.js';

/** Every asynchronous projection: what `serve` runs and `replay` rebuilds. */
export const asyncProjections: readonly AsyncProjection[] = [contentsIndex];
