import { createHash } from 'node:crypto';
import type { CommandMetadata, StoredBody } from '../../src/commands/commands.js';
import { blobKeyFor } from '../../src/storage/blobs/blob-store.js';

/** A body description for command-level tests, where no blob needs to exist. */
export const storedBody = (serial: number, lineage = 'lineage-1'): StoredBody => {
  const sha256 = createHash('sha256').update(`${lineage}/${serial}`).digest('hex');
  return { blobKey: blobKeyFor(sha256), sha256, md5: 'bWQ1', size: 100 + serial, serial, lineage, terraformVersion: '1.9.8', encrypted: false, resourceCount: 1, outputCount: 1 };
};

let clock = Date.parse('2026-01-01T00:00:00Z');

/** Metadata with a clock that moves one second per command, so times are distinct and ordered. */
export const metadata = (actor = 'tester'): CommandMetadata => ({
  actor,
  remoteAddress: '127.0.0.1',
  userAgent: 'test',
  requestId: `req-${clock}`,
  now: new Date((clock += 1000)),
});
