import { diffStates, TooDeepToCompare } from './state-diff.js';
import type { DiffReply, DiffRequest } from './diff-runner.js';

/**
 * Parses and compares two versions outside the server process: a state of tens of MB takes a while
 * to parse, and the server must keep answering meanwhile. Runs with a heap limit, so an oversized
 * comparison ends this process, never the server.
 */
const parse = (bytes: Uint8Array | null): unknown => (bytes === null ? null : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')));

process.on('message', ({ id, from, to }: DiffRequest) => {
  let reply: DiffReply;
  try {
    reply = { id, diff: diffStates(parse(from), parse(to)) };
  } catch (error) {
    reply = { id, refusal: error instanceof TooDeepToCompare ? 'too_deep' : 'unreadable' };
  }
  process.send?.(reply);
});

// The server went away (even uncleanly): nothing left to compare for.
process.on('disconnect', () => process.exit(0));
