import fs from 'node:fs';
import t from 'tap';
import { RECENT_BODY_BYTES, startProjectionProcess } from '../../src/cli/projection-process.js';
import { capturedLogger } from '../support/log-capture.js';
import { processTree } from '../support/process-tree.js';
import { waitFor } from '../support/projections.js';
import { freshDatabase, tempDir } from '../support/services.js';

/** This test process's projections child. */
const projectionsChild = (): number | undefined =>
  processTree(process.pid).find((pid) => pid !== process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('projection-worker'));

const heldOutside = () => {
  const usage = process.memoryUsage();
  return usage.arrayBuffers + usage.external;
};

t.test('bodies for a projections process that does not read its channel are dropped past 64 MiB, never queued in the server', async (t) => {
  const db = await freshDatabase(t);
  process.env.DATA_DIR = await tempDir(t); // the child's blob store: files there
  process.env.LOG_LEVEL = 'warn'; // the child's log goes to this test's output
  const { logger, lines } = capturedLogger();
  const projections = startProjectionProcess(db.url, logger);
  t.teardown(() => projections.stop());
  await waitFor('the child to run the projections', () => projections.running().length > 0);
  t.strictSame([...projections.running()].sort(), ['contents', 'runs']);
  const child = projectionsChild();
  if (child === undefined) throw new Error('no projections process');

  process.kill(child, 'SIGSTOP'); // reads nothing from now on
  try {
    const body = Buffer.alloc(2 * 1024 * 1024, 'x');
    const before = heldOutside();
    // 400 MiB of bodies: each would be copied into the channel's queue if nothing bounded it.
    for (let i = 0; i < 200; i++) projections.keep(`sha256/00/${i}`, body);
    const grown = heldOutside() - before;
    t.ok(grown < RECENT_BODY_BYTES + 8 * 1024 * 1024, `held ${(grown / 2 ** 20).toFixed(1)} MiB for the channel`);
  } finally {
    process.kill(child, 'SIGCONT');
  }
  await projections.stop();
  t.throws(() => process.kill(child, 0), { code: 'ESRCH' }, 'the child ended when asked');
  t.strictSame(lines().filter((line) => line.level === 50), [], 'no error logged: it never ended unasked');
});
