/** Runs at most `n` tasks at once; the others wait their turn, first come first served. */
export interface ConcurrencyLimit {
  run<A>(work: () => Promise<A>): Promise<A>;
  /** Tasks waiting for a turn (for callers that refuse rather than queue without bound). */
  readonly waiting: () => number;
  /** Whether a task given now would have to wait. */
  readonly full: () => boolean;
}

export const concurrencyLimit = (n: number): ConcurrencyLimit => {
  let running = 0;
  const queue: Array<() => void> = [];
  return {
    run: async (work) => {
      // Checked again after each wake-up: a task that arrived meanwhile may have taken the turn.
      while (running >= n) await new Promise<void>((resolve) => queue.push(resolve));
      running++;
      try {
        return await work();
      } finally {
        running--;
        queue.shift()?.();
      }
    },
    waiting: () => queue.length,
    full: () => running >= n,
  };
};
