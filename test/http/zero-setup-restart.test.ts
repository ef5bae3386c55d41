import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { bannerPassword, runCli, startCliServer } from '../support/cli.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { killLeftoverPostgres, postmasterPid } from '../support/embedded.js';
import { tempDir } from '../support/services.js';

// Embedded PostgreSQL initialised twice and a dozen CLI processes take 70 s alone, and more than
// the suite's 180 s per file when CI runs two files at once on its two cores (this one timed out there).
t.setTimeout(480_000);

t.test('zero setup: embedded PostgreSQL and file blobs survive a kill -9 and a restart', async (t) => {
  const dataDir = await tempDir(t);
  const env = { DATA_DIR: dataDir, AUTH_USERS: '' };
  killLeftoverPostgres(t, dataDir);

  const first = await startCliServer(env);
  const password = bannerPassword(first.banner);
  t.notOk(await fs.stat(path.join(dataDir, 'admin-password')).catch(() => undefined), 'no plain-text password on disk');
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
  t.match(second.banner, 'users, tokens and grants are in the database');
  const after = defaultClient(second.baseUrl, 'prod', { username: 'admin', password });
  t.same((await after.get()).body, stateDocument(2), 'the state survived');
  const versions = await (await fetch(`${second.baseUrl}/states/prod/versions`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } })).json();
  t.same(versions.versions.map((v: { version: number }) => v.version), [2, 1], 'the versions survived');
  const other = await after.lock(newLockInfo());
  t.match(other, { locked: false, status: 423, holderId: lock.ID }, 'the lock survived');

  // CLI commands attach to the running cluster and leave it running; access changes apply at once.
  const created = await runCli(['token', 'create', 'ci', '--expires', '30d'], env);
  t.equal(created.code, 0, created.stderr);
  const secret = created.stdout.trim();
  t.match(secret, /^slt_[A-Za-z0-9_-]{43}$/, 'stdout holds only the secret');
  t.match(created.stderr, 'created token ci');
  const ci = defaultClient(second.baseUrl, 'prod', { username: 'token', password: secret });
  t.equal((await ci.get()).status, 404, 'a token without grants sees nothing');
  const granted = await runCli(['grant', 'read', 'token:ci', 'prod*'], env);
  t.equal(granted.code, 0, granted.stderr);
  t.strictSame((await ci.get()).body, stateDocument(2), 'the grant applies on the next request');
  const tokens = await runCli(['token', 'list'], env);
  t.match(tokens.stdout, /^NAME\s+CREATED\s+EXPIRES\s+LAST USED\nci\s+\S+\s+\S+\s+\d{4}-/, 'the token list shows when it was last used');
  t.notMatch(tokens.stdout, secret, 'never the secret');
  const revoked = await runCli(['token', 'revoke', 'ci'], env);
  t.equal(revoked.code, 0, revoked.stderr);
  t.equal((await ci.get()).status, 401, 'a revoked token is refused on the next request');

  const added = await runCli(['user', 'add', 'dave'], env);
  t.equal(added.code, 0, added.stderr);
  const davePassword = added.stdout.trim();
  t.match(davePassword, /^[A-Za-z0-9_-]{24}$/, 'stdout holds only the generated password');
  const dave = defaultClient(second.baseUrl, 'prod', { username: 'dave', password: davePassword });
  t.equal((await dave.get()).status, 404, 'dave signs in at once, and sees nothing without a grant');

  const file = path.join(dataDir, 'access.yaml');
  await fs.writeFile(file, 'users: [admin, dave]\ntokens: [reports]\ngrants:\n  - {role: outputs, subject: "token:reports", glob: "prod*"}\n  - {role: admin, subject: "user:admin", glob: "*"}\n');
  const dry = await runCli(['access', 'apply', file, '--dry-run'], env);
  t.equal(dry.code, 0, dry.stderr);
  t.strictSame(dry.stdout, '', 'a dry run prints no secret');
  t.strictSame(dry.stderr.trim().split('\n'), ['would create token reports', 'would grant outputs to token:reports on prod*'], 'the changes, listed');
  const applied = await runCli(['access', 'apply', file], env);
  t.equal(applied.code, 0, applied.stderr);
  const [line] = applied.stdout.trim().split('\n');
  t.match(line, /^reports slt_[A-Za-z0-9_-]{43}$/, 'the new token\'s secret, once');
  const reports = defaultClient(second.baseUrl, 'prod', { username: 'token', password: line?.split(' ')[1] ?? '' });
  t.strictSame(JSON.parse((await reports.get()).body.toString('utf8')).resources, [], 'the outputs-only token reads the outputs document');
  const again = await runCli(['access', 'apply', file], env);
  t.equal(again.code, 0, again.stderr);
  t.strictSame([again.stdout, again.stderr.trim()], ['', 'no changes: access already matches the file'], 'a second run changes nothing');

  const passwd = await runCli(['user', 'passwd', 'dave', '--password-stdin'], env, 'daves-new-password\n');
  t.strictSame([passwd.code, passwd.stdout], [0, ''], 'a password from stdin is not printed');
  t.equal((await dave.get()).status, 401, 'the old password no longer signs in');
  t.equal((await defaultClient(second.baseUrl, 'prod', { username: 'dave', password: 'daves-new-password' }).get()).status, 404, 'the new one does');
  const grants = await runCli(['access', 'list'], env);
  t.strictSame(
    grants.stdout.trim().split('\n').map((line) => line.split(/\s+/).slice(0, 3).join(' ')),
    ['ROLE SUBJECT STATES', 'outputs token:reports prod*', 'admin user:admin *'],
    'access list shows every grant',
  );

  const untrusted = await runCli(['grant', 'read', 'oidc:evil-issuer', '*'], env);
  t.strictSame([untrusted.code, untrusted.stderr.trim()], [1, 'state-ledger: oidc:evil-issuer names an issuer this server does not trust; configured: none (set OIDC_ISSUERS)'], 'a grant to an issuer the settings do not name is refused');

  const replayed = await runCli(['replay'], env);
  t.equal(replayed.code, 0, replayed.stderr);
  t.match(replayed.stdout, /replayed 13 events/);
  const verified = await runCli(['verify'], env);
  t.equal(verified.code, 0, verified.stdout);
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
  t.match(alone.stdout, /replayed 13 events/);
  t.equal(await postmasterPid(dataDir), undefined, 'no cluster left running');
});

t.test('an older release\'s plain-text admin password is imported hashed, and the file deleted', async (t) => {
  const dataDir = await tempDir(t);
  killLeftoverPostgres(t, dataDir);
  await fs.writeFile(path.join(dataDir, 'admin-password'), 'legacy-password-123\n');
  const server = await startCliServer({ DATA_DIR: dataDir, AUTH_USERS: '' });
  t.teardown(() => server.process.kill('SIGKILL'));
  t.match(server.banner, 'now stored hashed (the plain-text file was deleted)');
  t.notOk(await fs.stat(path.join(dataDir, 'admin-password')).catch(() => undefined), 'the plain-text file is gone');
  const client = defaultClient(server.baseUrl, 'kept', { username: 'admin', password: 'legacy-password-123' });
  t.equal((await client.put(stateDocument(1))).status, 200, 'the old password still works');
  server.process.kill('SIGTERM');
  t.equal(await server.exited, 0);
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
