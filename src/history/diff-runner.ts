import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StateDiff } from './state-diff.js';

export interface DiffRequest {
  readonly id: number;
  readonly from: Uint8Array | null;
  readonly to: Uint8Array;
}

/** Why a comparison was not made: nested too deep, not JSON, too big for the worker's heap, too slow, or too many waiting. */
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

const WORKER = fileURLToPath(new URL('./diff-worker.js', import.meta.url));

/**
 * One worker process, started on first use and again after it dies, comparing one pair of versions
 * at a time: the memory a diff takes is bounded by one comparison, whatever the number of requests.
 * A process, not a worker thread: V8 aborts the whole process when a thread's heap limit is hit
 * inside JSON.parse, so only a process of its own keeps an oversized comparison from ending the server.
 */
export const diffRunner = ({ heapMb, timeoutMs, maxWaiting }: DiffRunnerOptions): DiffRunner => {
  let worker: ChildProcess | undefined;
  let nextId = 1;
  let queue: Promise<unknown> = Promise.resolve();
  let waiting = 0;

  const start = (): ChildProcess => {
    const started = fork(WORKER, [], {
      execArgv: [...process.execArgv, `--max-old-space-size=${heapMb}`],
      serialization: 'advanced', // Uint8Array bodies cross as bytes, not as JSON
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    started.unref(); // an idle worker never keeps the server from exiting
    started.channel?.unref();
    started.on('error', () => undefined); // always heard: an unheard 'error' would end the server
    started.once('exit', () => {
      if (worker === started) worker = undefined;
    });
    return started;
  };

  /** Ends the worker now; the next diff starts a fresh one rather than queue behind a dying one. */
  const stop = (current: ChildProcess) => {
    if (worker === current) worker = undefined;
    current.kill('SIGKILL');
  };

  const run = (request: DiffRequest): Promise<StateDiff | DiffRefusal> =>
    new Promise((resolve) => {
      const current = (worker ??= start());
      current.channel?.ref(); // waiting for an answer
      const finish = (outcome: StateDiff | DiffRefusal) => {
        clearTimeout(timer);
        current.off('message', onMessage);
        current.off('exit', onExit);
        current.channel?.unref();
        resolve(outcome);
      };
      const onMessage = (reply: DiffReply) => {
        if (reply.id === request.id) finish('diff' in reply ? reply.diff : reply.refusal);
      };
      // The worker ended mid-diff: its heap limit was hit (or it failed otherwise). The next diff starts another.
      const onExit = () => finish('too_large');
      const timer = setTimeout(() => {
        current.off('exit', onExit);
        stop(current);
        finish('too_slow');
      }, timeoutMs);
      current.on('message', onMessage);
      current.once('exit', onExit);
      current.send(request, (error) => {
        if (error !== null) {
          stop(current);
          finish('too_large');
        }
      });
    });

  return {
    diff: (load) => {
      if (waiting >= maxWaiting) return Promise.resolve('busy');
      waiting++;
      const turn = queue.then(async () => {
        try {
          const { from, to } = await load();
          return await run({ id: nextId++, from, to });
        } finally {
          waiting--; // before the caller hears the result, so a next diff is not counted against this one
        }
      });
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
};
