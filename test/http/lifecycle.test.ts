import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BIN, bannerPassword, runCli, startCliServer } from '../support/cli.js';
import { defaultClient, stateDocument } from '../support/go-client.js';
import { privatePostgres } from '../support/private-services.js';
import { alive, killLeftoverPostgres, postmasterPid } from '../support/embedded.js';
import { freshDatabase, s3Environment, tempDir } from '../support/services.js';

// Several servers and embedded PostgreSQL clusters started, stopped and killed take 110 s alone, and more than
// the suite's 180 s per file when CI runs two files at once on its two cores.
t.setTimeout(480_000);



const waitForExit = (exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> =>
  Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} to \`npm start\` stops the server and its PostgreSQL`, async (t) => {
    const dataDir = await tempDir(t);
    killLeftoverPostgres(t, dataDir);
    const mainJs = path.join(path.dirname(path.dirname(BIN)), 'dist', 'cli', 'main.js');
    const builtAt = (await fs.stat(mainJs)).mtimeMs;
    const server = await startCliServer({ DATA_DIR: dataDir, AUTH_USERS: 'u:p' }, true);
    t.equal((await fs.stat(mainJs)).mtimeMs, builtAt, 'npm start did not recompile a current build');
    t.equal((await fetch(`${server.baseUrl}/livez`)).status, 200);
    const postgres = await postmasterPid(dataDir);
    t.ok(postgres !== undefined && alive(postgres), 'the embedded PostgreSQL runs');
    server.process.kill(signal); // the npm process itself, as a service manager or a terminal would
    t.equal(await waitForExit(server.exited, 30_000), 0, 'npm exits, cleanly');
    t.equal(await fetch(`${server.baseUrl}/livez`).then(() => 'answering', () => 'gone'), 'gone', 'no orphaned server keeps serving');
    t.equal(await postmasterPid(dataDir), undefined, 'PostgreSQL was stopped');
  });
}

t.test('a second serve on a DATA_DIR in use refuses with one line and touches nothing', async (t) => {
  const dataDir = await tempDir(t);
  killLeftoverPostgres(t, dataDir);
  const first = await startCliServer({ DATA_DIR: dataDir, AUTH_USERS: '' });
  t.teardown(() => first.process.kill('SIGKILL'));
  const client = defaultClient(first.baseUrl, 'kept', { username: 'admin', password: bannerPassword(first.banner) });
  t.equal((await client.put(stateDocument(1))).status, 200);
  const before = await fs.readdir(dataDir);
  const postgres = await postmasterPid(dataDir);

  const second = await runCli(['serve'], { DATA_DIR: dataDir, AUTH_USERS: '', PORT: '0' });
  t.equal(second.code, 1);
  t.strictSame(
    second.stderr.trim().split('\n'),
    [`state-ledger: DATA_DIR ${dataDir} is in use by \`state-ledger serve\` (pid ${first.process.pid}); stop it first, or give this server another DATA_DIR`],
    'one clear line',
  );
  t.strictSame(await fs.readdir(dataDir), before, 'nothing was added or removed');
  t.equal(await postmasterPid(dataDir), postgres, "the first server's PostgreSQL runs on");
  t.strictSame((await client.get()).body, stateDocument(1), 'and the first server still serves');

  // The same DATA_DIR on a port in use: a start that fails after taking DATA_DIR gives it back.
  first.process.kill('SIGTERM');
  t.equal(await first.exited, 0);
  const blocker = await startCliServer({ DATA_DIR: await tempDir(t), AUTH_USERS: 'u:p' });
  t.teardown(() => blocker.process.kill('SIGKILL'));
  const busyPort = new URL(blocker.baseUrl).port;
  const clash = await runCli(['serve'], { DATA_DIR: dataDir, AUTH_USERS: '', PORT: busyPort });
  t.equal(clash.code, 1);
  t.match(clash.stderr, /EADDRINUSE/);
  t.equal(await postmasterPid(dataDir), undefined, 'its own PostgreSQL was stopped again');
  const again = await startCliServer({ DATA_DIR: dataDir, AUTH_USERS: '' });
  t.teardown(() => again.process.kill('SIGKILL'));
  t.equal((await fetch(`${again.baseUrl}/livez`)).status, 200, 'DATA_DIR is free for the next start');
  again.process.kill('SIGTERM');
  await again.exited;
});

t.test('two servers share a DATA_DIR for file blobs: leftovers of dead processes are removed at start, a live one kept', async (t) => {
  const dataDir = await tempDir(t);
  const env = { DATA_DIR: dataDir, DATABASE_URL: (await freshDatabase(t)).url, AUTH_USERS: 'u:p' };
  const first = await startCliServer(env);
  t.teardown(() => first.process.kill('SIGKILL'));
  const tmp = path.join(dataDir, 'tmp');
  const [firstFolder] = await fs.readdir(tmp);
  const dead = path.join(tmp, randomUUID());
  await fs.mkdir(dead);
  await fs.writeFile(path.join(dead, '.owner'), `${os.hostname()}\n999999\n`);
  await fs.writeFile(path.join(dead, 'state-1'), 'secret');
  const older = `state-${randomUUID()}`;
  await fs.writeFile(path.join(tmp, older), 'secret');
  await fs.writeFile(path.join(tmp, 'not-ours.txt'), 'someone else');

  const second = await startCliServer(env);
  t.teardown(() => second.process.kill('SIGKILL'));
  const left = await fs.readdir(tmp);
  t.strictSame(left.filter((entry) => entry === path.basename(dead) || entry === older), [], 'what dead processes left is gone');
  t.ok(firstFolder !== undefined && left.includes(firstFolder), "the live first server's folder is kept");
  t.ok(left.includes('not-ours.txt'), 'a file that is not ours is never touched');
  t.equal(left.length, 3, "beside the second server's own");
  const client = defaultClient(second.baseUrl, 'shared', { username: 'u', password: 'p' });
  t.equal((await client.put(stateDocument(1))).status, 200);
  t.strictSame((await defaultClient(first.baseUrl, 'shared', { username: 'u', password: 'p' }).get()).body, stateDocument(1), 'both serve the same blobs');
  for (const server of [first, second]) {
    server.process.kill('SIGTERM');
    t.equal(await server.exited, 0);
  }
  t.strictSame(await fs.readdir(tmp), ['not-ours.txt'], 'a clean stop removes its own folder');
});

t.test('SIGTERM ends the server within its grace period while PostgreSQL is down', async (t) => {
  const postgres = await privatePostgres(t);
  const server = await startCliServer({
    DATA_DIR: await tempDir(t),
    DATABASE_URL: postgres.url,
    ...s3Environment(),
    AUTH_USERS: 'u:p',
    SHUTDOWN_GRACE_SECONDS: '3',
  });
  t.teardown(() => server.process.kill('SIGKILL'));
  await postgres.stop('immediate');
  const down = await fetch(`${server.baseUrl}/states`, { headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } });
  t.equal(down.status, 503, 'a request while PostgreSQL is down answers 503');
  server.process.kill('SIGTERM');
  const code = await waitForExit(server.exited, 10_000);
  t.not(code, 'still running', 'the process ended (its listener would otherwise retry forever)');
});
