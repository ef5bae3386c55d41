import fs from 'node:fs/promises';
import t from 'tap';
import { defaultClient, stateDocument } from '../support/go-client.js';
import { privateS3 } from '../support/private-services.js';
import { startServer, type TestServer } from '../support/server.js';
import { tempDir } from '../support/services.js';

const TIMEOUT_MS = 2000;
/** Generous: the point is that the answer comes (no hang), not how fast. */
const ANSWER_WITHIN_MS = TIMEOUT_MS + 8000;

const timed = async <A>(work: () => Promise<A>): Promise<{ value: A; ms: number }> => {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
};

const ledgerSnapshot = async (server: TestServer) => {
  const { rows } = await server.db.pool.query('SELECT count(*)::int AS events, max(stream_version)::int AS last FROM events');
  return rows[0];
};

/** Pushes until one is stored, as Terraform's retries would; answers how many attempts it took. */
const pushUntilStored = async (push: () => Promise<{ status: number }>): Promise<number> => {
  for (let attempt = 1; attempt <= 40; attempt++) {
    if ((await push()).status === 200) return attempt;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('pushes never succeeded again');
};

for (const fault of ['stopped', 'frozen (SIGSTOP)'] as const) {
  t.test(`object store ${fault}: 503 within the timeout, nothing half-written, recovery on its own`, async (t) => {
    const s3 = await privateS3(t, TIMEOUT_MS);
    const tmpDir = await tempDir(t);
    const server = await startServer(t, { s3: s3.config, tmpDir });
    const client = defaultClient(server.baseUrl, 'fragile');
    t.equal((await client.put(stateDocument(1))).status, 200);
    const before = await ledgerSnapshot(server);

    if (fault === 'stopped') await s3.kill();
    else process.kill(s3.proxyPid(), 'SIGSTOP');

    const push = await timed(() => client.put(stateDocument(2)));
    t.equal(push.value.status, 503, 'a push answers 503, which the clients retry');
    t.ok(push.ms < ANSWER_WITHIN_MS, `the push was answered (after ${push.ms} ms), not left hanging`);
    t.equal(push.value.headers.get('retry-after'), '5');
    t.strictSame(JSON.parse(push.value.body.toString()), { error: 'unavailable', message: "the server's object store is unavailable; retry shortly" });
    const read = await timed(() => client.get());
    t.equal(read.value.status, 503, 'a read answers 503, never a 200 with a broken body');
    t.ok(read.ms < ANSWER_WITHIN_MS, `the read was answered (after ${read.ms} ms)`);
    const ready = await fetch(`${server.baseUrl}/readyz`);
    t.equal(ready.status, 503);
    t.strictSame(await ready.json(), { status: 'unavailable', postgres: 'ok', blobs: 'unavailable' });
    t.strictSame(await ledgerSnapshot(server), before, 'no event refers to a body that was not stored');
    t.strictSame(await fs.readdir(tmpDir), [], 'no pushed body was left on disk');
    if (fault === 'stopped') {
      // Bodies over one 8 MiB part go up in parts: a failed multipart upload must not keep its file open.
      const large = stateDocument(3, undefined, { padding: 'x'.repeat(9 << 20) });
      const openFiles = async () => (await fs.readdir('/proc/self/fd')).length;
      const before = await openFiles();
      for (let i = 0; i < 10; i++) t.equal((await client.put(large)).status, 503);
      t.ok((await openFiles()) - before < 5, 'no descriptor is left open per failed upload');
    }

    if (fault === 'stopped') await s3.restart();
    else process.kill(s3.proxyPid(), 'SIGCONT');
    t.ok((await pushUntilStored(() => client.put(stateDocument(2)))) >= 1, 'pushes succeed again without a restart');
    t.strictSame((await client.get()).body, stateDocument(2), 'and read back byte for byte');
    t.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);
  });
}
