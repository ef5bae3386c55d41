import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runCli, startCliServer } from '../support/cli.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { killLeftoverPostgres, postmasterPid } from '../support/embedded.js';
import { tempDir } from '../support/services.js';

t.test('zero setup: embedded PostgreSQL and file blobs survive a kill -9 and a restart', async (t) => {
  const dataDir = await tempDir(t);
  const env = { DATA_DIR: dataDir, AUTH_USERS: '' };
  killLeftoverPostgres(t, dataDir);

  const first = await startCliServer(env);
  const password = (await fs.readFile(path.join(dataDir, 'admin-password'), 'utf8')).trim();
  t.match(first.banner, `password ${password}`, 'the generated password is printed at first start');
  t.match(first.banner, /backend "http" \{[\s\S]*lock_address   = "http:\/\/127\.0\.0\.1:\d+\/states\/my-state\/lock"/);
  const client = () => defaultClient(first.baseUrl, 'prod', { username: 'admin', password });
  const holder = client();
  const lock = newLockInfo();
  t.same(await holder.lock(lock), { locked: true });
  t.equal((await holder.put(stateDocument(1))).status, 200);
  t.equal((await holder.put(stateDocument(2))).status, 200);

  // An unclean exit: the server dies, its PostgreSQL is left running behind it.
  first.process.kill('SIGKILL');
  await first.exited;

  const second = await startCliServer(env);
  t.notMatch(second.banner, password, 'the password is shown only once');
  t.match(second.banner, 'admin-password');
  const after = defaultClient(second.baseUrl, 'prod', { username: 'admin', password });
  t.same((await after.get()).body, stateDocument(2), 'the state survived');
  const versions = await (await fetch(`${second.baseUrl}/states/prod/versions`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } })).json();
  t.same(versions.versions.map((v: { version: number }) => v.version), [2, 1], 'the versions survived');
  const other = await after.lock(newLockInfo());
  t.match(other, { locked: false, status: 423, holderId: lock.ID }, 'the lock survived');

  // CLI commands attach to the running cluster and leave it running.
  const replayed = await runCli(['replay'], env);
  t.equal(replayed.code, 0, replayed.stderr);
  t.match(replayed.stdout, /replayed 3 events/);
  const migrated = await runCli(['migrate'], env);
  t.equal(migrated.code, 0, migrated.stderr);
  t.same((await after.get()).body, stateDocument(2), 'the server still serves after replay');

  // A clean stop takes its PostgreSQL down with it.
  t.ok(await postmasterPid(dataDir), 'PostgreSQL runs while the server runs');
  second.process.kill('SIGTERM');
  t.equal(await second.exited, 0);
  t.equal(await postmasterPid(dataDir), undefined, 'PostgreSQL shut down cleanly with the server');

  // With no server running, a CLI command starts the cluster itself and stops it again.
  const alone = await runCli(['replay'], env);
  t.equal(alone.code, 0, alone.stderr);
  t.match(alone.stdout, /replayed 3 events/);
  t.equal(await postmasterPid(dataDir), undefined, 'no cluster left running');
});

t.test('CLI help and configuration errors', async (t) => {
  const help = await runCli(['--help'], {});
  t.equal(help.code, 0);
  for (const command of ['serve', 'migrate', 'replay']) t.match(help.stdout, command);
  const bad = await runCli(['serve'], { PORT: 'eighty', DATA_DIR: await tempDir(t) });
  t.equal(bad.code, 2);
  t.match(bad.stderr, 'invalid configuration: PORT must be an integer from 0 to 65535, got "eighty"');
  const unknown = await runCli(['frobnicate'], {});
  t.not(unknown.code, 0);
});
