import { parentPort } from 'node:worker_threads';
import { diffStates, TooDeepToCompare } from './state-diff.js';
import type { DiffReply, DiffRequest } from './diff-runner.js';

/**
 * Parses and compares two versions off the main thread: a state of tens of MB takes a while to
 * parse, and the server must keep answering meanwhile. Runs in a worker with a heap limit, so an
 * oversized comparison ends this worker, never the server.
 */
const parse = (bytes: Uint8Array | null): unknown => (bytes === null ? null : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')));

parentPort?.on('message', ({ id, from, to }: DiffRequest) => {
  let reply: DiffReply;
  try {
    reply = { id, diff: diffStates(parse(from), parse(to)) };
  } catch (error) {
    reply = { id, refusal: error instanceof TooDeepToCompare ? 'too_deep' : 'unreadable' };
  }
  parentPort?.postMessage(reply);
});
