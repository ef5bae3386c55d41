import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import type { ProjectionRunner } from '../projections/async/runner.js';
import type { StoredBodies } from '../storage/blobs/recent-bodies.js';

/** Bodies just pushed, kept for the projections to read: as long, and as many, as their shared reader keeps readings. */
export const RECENT_BODY_BYTES = 64 * 1024 * 1024;
export const RECENT_BODY_MS = 10_000;

/** The projections process's nice value: requests first, indexing with what CPU is left. */
export const PROJECTIONS_NICENESS = 10;

export type ToProjections =
  | { readonly kind: 'keep'; readonly key: string; readonly bytes: Uint8Array }
  | { readonly kind: 'forget'; readonly key: string }
  | { readonly kind: 'stop' };

export type ToServer = { readonly kind: 'running'; readonly projections: readonly string[] };

/** Waits between restarts after the process ended unasked: from RESTART_MIN_MS, doubling up to RESTART_MAX_MS. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A process that ran this long before it ended starts again after the shortest wait. */
const HEALTHY_MS = 60_000;

const WORKER = fileURLToPath(new URL('./projection-worker.js', import.meta.url));

export interface ProjectionProcess extends ProjectionRunner, StoredBodies {}

/**
 * Runs the asynchronous projections (projection-worker.ts) in a child process, and starts it again
 * whenever it ends unasked (a crash, running out of memory, killed): the server never goes down
 * with it, and the runner resumes from its checkpoints in the database. Bodies just pushed from
 * memory are handed over (`keep`) while the child runs a projection, so it need not download them.
 */
export const startProjectionProcess = (databaseUrl: string, logger: Logger, onEndedUnasked: () => void = () => undefined): ProjectionProcess => {
  /** The child, and the bytes of bodies handed to its IPC channel not yet written to it. */
  let child: { readonly process: ChildProcess; unsent: number } | undefined;
  let running: readonly string[] = [];
  let stopping = false;
  let restartMs = RESTART_MIN_MS;
  let restartTimer: NodeJS.Timeout | undefined;
  let exited = Promise.resolve();

  const start = () => {
    const startedAt = Date.now();
    const started = fork(WORKER, [], {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      serialization: 'advanced', // bodies cross as bytes, not as JSON
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = { process: started, unsent: 0 };
    started.on('error', (error) => logger.warn({ err: error }, 'the projections process could not be reached'));
    started.on('message', (message: ToServer) => {
      running = message.projections;
    });
    exited = new Promise((resolve) =>
      started.once('exit', (code, signal) => {
        child = undefined;
        running = [];
        resolve();
        if (stopping) return;
        restartMs = Date.now() - startedAt >= HEALTHY_MS ? RESTART_MIN_MS : restartMs;
        logger.error({ code, signal, restartInMs: restartMs }, 'the projections process ended; starting it again');
        onEndedUnasked();
        restartTimer = setTimeout(start, restartMs);
        restartMs = Math.min(restartMs * 2, RESTART_MAX_MS);
      }),
    );
  };

  const tell = (message: ToProjections, bytes = 0) => {
    const to = child;
    // A child too busy to read its channel must not grow the server: it downloads that body instead.
    if (to?.process.connected !== true || to.unsent + bytes > RECENT_BODY_BYTES) return;
    to.unsent += bytes;
    to.process.send(message, () => (to.unsent -= bytes)); // a message lost with a dying child is harmless
  };

  start();
  return {
    running: () => running,
    keep: (key, bytes) => tell({ kind: 'keep', key, bytes }, bytes.length),
    forget: (key) => tell({ kind: 'forget', key }),
    stop: async () => {
      stopping = true;
      clearTimeout(restartTimer);
      tell({ kind: 'stop' }); // a batch being applied ends first; one cut short rolls back
      await exited;
    },
  };
};
