import { Worker } from 'node:worker_threads';
import type { StateDiff } from './state-diff.js';

export interface DiffRequest {
  readonly id: number;
  readonly from: Uint8Array | null;
  readonly to: Uint8Array;
}

/** Why a comparison was not made: nested too deep, not JSON, too big for the worker's heap, or too slow. */
export type DiffRefusal = 'too_deep' | 'unreadable' | 'too_large' | 'too_slow' | 'busy';

export type DiffReply = { readonly id: number; readonly diff: StateDiff } | { readonly id: number; readonly refusal: DiffRefusal };

export interface DiffRunner {
  /** Loads both bodies only when its turn comes, so waiting requests hold no memory. */
  diff(load: () => Promise<{ from: Uint8Array | null; to: Uint8Array }>): Promise<StateDiff | DiffRefusal>;
}

export interface DiffRunnerOptions {
  /** The worker's heap: a comparison that needs more ends the worker, not the server. */
  readonly heapMb: number;
  readonly timeoutMs: number;
  /** Comparisons waiting beyond this many are refused as busy. */
  readonly maxWaiting: number;
}

const WORKER = new URL('./diff-worker.js', import.meta.url);

/**
 * One worker thread, started on first use and again after it dies, comparing one pair of versions
 * at a time: the memory a diff takes is bounded by one comparison, whatever the number of requests.
 */
export const diffRunner = ({ heapMb, timeoutMs, maxWaiting }: DiffRunnerOptions): DiffRunner => {
  let worker: Worker | undefined;
  let nextId = 1;
  let queue: Promise<unknown> = Promise.resolve();
  let waiting = 0;

  const start = (): Worker => {
    const started = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: heapMb, stackSizeMb: 4 } });
    started.unref(); // an idle worker never keeps the process from exiting
    started.once('exit', () => {
      if (worker === started) worker = undefined;
    });
    return started;
  };

  const run = (request: DiffRequest): Promise<StateDiff | DiffRefusal> =>
    new Promise((resolve) => {
      const current = (worker ??= start());
      const finish = (outcome: StateDiff | DiffRefusal) => {
        clearTimeout(timer);
        current.off('message', onMessage);
        current.off('error', onError);
        resolve(outcome);
      };
      const onMessage = (reply: DiffReply) => {
        if (reply.id === request.id) finish('diff' in reply ? reply.diff : reply.refusal);
      };
      // The heap limit was hit (or the worker failed otherwise): it is gone, the next diff starts another.
      const onError = () => finish('too_large');
      const timer = setTimeout(() => {
        void current.terminate();
        finish('too_slow');
      }, timeoutMs);
      current.on('message', onMessage);
      current.once('error', onError);
      const transfer = [request.to.buffer, ...(request.from === null ? [] : [request.from.buffer])] as ArrayBuffer[];
      current.postMessage(request, transfer);
    });

  return {
    diff: (load) => {
      if (waiting >= maxWaiting) return Promise.resolve('busy');
      waiting++;
      const turn = queue.then(async () => {
        const { from, to } = await load();
        return run({ id: nextId++, from, to });
      });
      queue = turn.catch(() => undefined).finally(() => waiting--);
      return turn;
    },
  };
};
