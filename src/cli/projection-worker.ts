import os from 'node:os';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { asyncProjections } from '../projections/async/projections.js';
import { startProjectionRunner } from '../projections/async/runner.js';
import { sharedBodyReader } from '../projections/async/stored-contents.js';
import { openBlobStore } from '../runtime.js';
import { recentBodies } from '../storage/blobs/recent-bodies.js';
import { listenForEvents } from '../storage/event-wakeups.js';
import { PROJECTIONS_NICENESS, RECENT_BODY_BYTES, RECENT_BODY_MS, type ToProjections, type ToServer } from './projection-process.js';

/**
 * The server's asynchronous projections, in a process of their own (started by projection-process.ts
 * with the server's environment and its database URL). Reading and indexing a pushed body costs
 * more CPU than the push itself: here it runs beside the requests rather than between them,
 * at a lower priority, and its memory is its own.
 */
const send = (message: ToServer) => process.send?.(message);

/** Longest a stop waits for a batch to end and the connections to close. */
const STOP_GRACE_MS = 10_000;

const main = async () => {
  const loaded = loadConfig(process.env);
  if (loaded._tag === 'Left') throw new Error(loaded.left.join('; '));
  const config = loaded.right;
  const logger = createLogger(config.logLevel).child({ process: 'projections' });
  try {
    os.setPriority(PROJECTIONS_NICENESS);
  } catch (error) {
    logger.warn({ err: error }, 'could not lower the projections process priority');
  }
  const url = config.databaseUrl ?? '';
  const blobs = await openBlobStore(config);
  const wakeups = await listenForEvents(url, logger);
  const recent = recentBodies({ maxBytes: RECENT_BODY_BYTES, forMs: RECENT_BODY_MS });
  const runner = startProjectionRunner({ url, wakeups, logger, context: { bodies: sharedBodyReader(recent.reading(blobs)) }, projections: asyncProjections });
  // The server keeps bodies for this process only while it runs a projection: it is told of changes.
  let running = '';
  const report = setInterval(() => {
    const now = runner.running();
    if (now.join() === running) return;
    running = now.join();
    send({ kind: 'running', projections: now });
  }, 250);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(report);
    // A dead database must not keep this process alive once the server is gone.
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
    await runner.stop();
    await wakeups.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message: ToProjections) => {
    if (message.kind === 'keep') recent.keep(message.key, Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength));
    else if (message.kind === 'forget') recent.forget(message.key);
    else void stop();
  });
  // The server went away, even uncleanly: nothing left to index for.
  process.on('disconnect', () => void stop());
};

// Signals are the server's to handle: it stops this process in its own order (a Ctrl-C reaches both).
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
main().catch((error: unknown) => {
  process.stderr.write(`the projections process could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
