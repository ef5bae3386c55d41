import { execFile as execFileCallback } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import t from 'tap';
import { defaultClient, stateDocument } from '../support/go-client.js';
import { capturedLogger } from '../support/log-capture.js';
import { startServer } from '../support/server.js';
import { tempDir } from '../support/services.js';

const execFile = promisify(execFileCallback);

t.test('a full disk answers 507 as JSON every time, logs every failure, and leaves nothing behind', async (t) => {
  const tiny = await tempDir(t);
  // A 1 MiB file system for the bodies waiting to be checked (needs root, as CI runs).
  const mounted = await execFile('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', tiny]).then(() => true, () => false);
  if (!mounted) return void t.pass('a full disk', { skip: 'cannot mount a small tmpfs here (needs root)' });
  t.teardown(() => execFile('umount', ['-l', tiny]));
  const { logger, lines } = capturedLogger();
  const server = await startServer(t, { tmpDir: tiny, logger });
  const client = defaultClient(server.baseUrl, 'big');
  t.equal((await client.put(stateDocument(1))).status, 200, 'a small body fits');
  const large = stateDocument(2, undefined, { padding: 'x'.repeat(2 * 1024 * 1024) });

  for (let i = 0; i < 20; i++) {
    const reply = await client.put(large);
    t.equal(reply.status, 507, `attempt ${i + 1}: 507 Insufficient Storage`);
    t.equal(reply.headers.get('content-type'), 'application/json; charset=utf-8');
    t.strictSame(JSON.parse(reply.body.toString()), {
      error: 'insufficient_storage',
      message: "the server's disk is full; retry once space has been freed",
    });
  }
  const failures = lines().filter((line) => line.msg === 'request failed' && (line.err as { code?: string } | undefined)?.code === 'ENOSPC');
  t.equal(failures.length, 20, 'every failure is logged with its cause');
  t.strictSame(await fs.readdir(tiny), [], 'no partial body is left behind');
  t.strictSame((await client.get()).body, stateDocument(1), 'the state is unchanged');
  t.equal((await server.request('/states/big/versions').then((r) => r.json())).versions.length, 1, 'no version was added');
});
