import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { newLockInfo } from '../support/go-client.js';
import { PASSWORD, startServer, USER, type TestServer } from '../support/server.js';
import { tempDir } from '../support/services.js';
import { makeCertificates, type Certificates } from '../support/certificates.js';
import { loadTls } from '../../src/http/tls.js';

/** An administrator's JSON POST over HTTPS with the dev user alice's client certificate (fetch cannot send one). */
const fetchOverTls = (baseUrl: string, certs: Certificates, path_: string, body: unknown): Promise<number> =>
  new Promise((resolve, reject) => {
    const url = new URL(path_, baseUrl);
    const req = https.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });

/**
 * The real Terraform CLI against the server, where the machine has one (neither Terraform nor
 * OpenTofu can be installed from the registries this project uses; protocol.test.ts replays their
 * requests everywhere). Only the built-in terraform_data resource: no provider download needed.
 */
const exec = promisify(execFile);
const terraform = await exec('terraform', ['version']).then(
  () => 'terraform',
  () => undefined,
);

const config = (server: TestServer, name: string, dialect: 'seed' | 'default') => {
  const address = `${server.baseUrl}/states/${name}`;
  const locking =
    dialect === 'seed'
      ? `lock_address = "${address}/lock"\n    unlock_address = "${address}/unlock"\n    lock_method = "POST"\n    unlock_method = "POST"`
      : `lock_address = "${address}"\n    unlock_address = "${address}"`;
  return `terraform {
  backend "http" {
    address = "${address}"
    ${locking}
    retry_max = 0
  }
}
variable "greeting" { default = "hello" }
resource "terraform_data" "greeting" { input = var.greeting }
output "greeting" { value = terraform_data.greeting.output }
output "secret" {
  value     = "s3cr3t-\${var.greeting}"
  sensitive = true
}
`;
};

const cli = (dir: string, credentials: Record<string, string> = { TF_HTTP_USERNAME: USER, TF_HTTP_PASSWORD: PASSWORD }) => async (...args: string[]) => {
  const env = {
    ...process.env,
    ...credentials,
    TF_IN_AUTOMATION: '1',
    CHECKPOINT_DISABLE: '1',
    TF_CLI_CONFIG_FILE: path.join(dir, 'cli.tfrc'),
  };
  try {
    const { stdout, stderr } = await exec(terraform ?? 'terraform', [...args, '-no-color'], { cwd: dir, env });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
};

t.test('the real Terraform CLI', { skip: terraform === undefined ? 'no terraform binary on this machine' : false }, async (t) => {
  const server = await startServer(t);

  // Each dialect with a flat name and a nested one (`/` in the address, as Terraform sends it).
  for (const [dialect, name] of [['seed', 'tf-seed'], ['default', 'tf-default'], ['seed', 'team-a/prod/tf-seed'], ['default', 'team-a/prod/tf-default']] as const) {
    t.test(`${dialect} lock configuration on ${name}: init, apply, apply, pull, locked out, force-unlock`, async (t) => {
      const dir = await tempDir(t);
      await fs.writeFile(path.join(dir, 'main.tf'), config(server, name, dialect));
      await fs.writeFile(path.join(dir, 'cli.tfrc'), '');
      const tf = cli(dir);

      const init = await tf('init', '-input=false');
      t.ok(init.ok, 'init', { output: init.output });
      const first = await tf('apply', '-auto-approve', '-input=false');
      t.ok(first.ok, 'first', { output: first.output });
      const second = await tf('apply', '-auto-approve', '-input=false', '-var', 'greeting=bonjour');
      t.ok(second.ok, 'second', { output: second.output });

      const versions = (await (await server.request(`/states/${name}/versions`)).json()).versions as Array<{
        version: number;
        serial: number;
        lock_id: string | null;
      }>;
      t.ok(versions.length >= 2, 'each apply stored a version');
      t.ok(versions.every((v) => v.lock_id !== null), 'every push was made under a lock');
      t.equal(versions[0]?.serial, Math.max(...versions.map((v) => v.serial)));
      t.equal((await server.request(`/states/${name}/lock`)).status, 404, 'the lock was released');

      const pulled = await tf('state', 'pull');
      t.ok(pulled.ok, 'pulled', { output: pulled.output });
      const served = await (await server.request(`/states/${name}`)).json();
      t.same(JSON.parse(pulled.output), served, 'state pull returns what the server serves');
      t.equal(served.outputs.greeting.value, 'bonjour');

      const holder = newLockInfo({ Who: 'someone-else@elsewhere' });
      t.equal((await server.request(`/states/${name}/lock`, { method: 'POST', body: JSON.stringify(holder) })).status, 200);
      const blocked = await tf('plan', '-input=false', '-lock-timeout=0s');
      t.notOk(blocked.ok, 'plan refuses to run while someone else holds the lock');
      t.match(blocked.output, holder.ID, 'and names the holder');

      const forced = await tf('force-unlock', '-force', holder.ID);
      t.ok(forced.ok, 'forced', { output: forced.output });
      t.equal((await server.request(`/states/${name}/lock`)).status, 404, 'force-unlock released it');
      const { rows } = await server.db.pool.query(
        "SELECT metadata->>'actor' AS actor FROM events WHERE stream_id = $1 AND type = 'LockForceReleased'",
        [name],
      );
      t.strictSame(rows, [{ actor: `user:${USER}` }], 'recorded as a force-release by the actor');
      const after = await tf('apply', '-auto-approve', '-input=false', '-var', 'greeting=hallo');
      t.ok(after.ok, 'after', { output: after.output });
    });
  }

  t.test('terraform_remote_state through an outputs-only token reads the outputs, and nothing else', async (t) => {
    const token = await (await server.request('/access/tokens', { method: 'POST', body: JSON.stringify({ name: 'remote-reader' }) })).json();
    const grant = await server.request('/access/grants', { method: 'POST', body: JSON.stringify({ role: 'outputs', subject: 'token:remote-reader', glob: 'tf-seed' }) });
    t.equal(grant.status, 200);
    const dir = await tempDir(t);
    await fs.writeFile(path.join(dir, 'cli.tfrc'), '');
    await fs.writeFile(
      path.join(dir, 'main.tf'),
      `data "terraform_remote_state" "seed" {
  backend = "http"
  config = {
    address  = "${server.baseUrl}/states/tf-seed"
    username = "token"
    password = "${token.secret as string}"
  }
}
output "greeting" { value = data.terraform_remote_state.seed.outputs.greeting }
output "secret" { value = nonsensitive(data.terraform_remote_state.seed.outputs.secret) }
`,
    );
    // The consumer's own state is local: only the remote_state read goes to the server.
    const tf = cli(dir, { TF_HTTP_USERNAME: 'nobody', TF_HTTP_PASSWORD: 'unused' });
    const init = await tf('init', '-input=false');
    t.ok(init.ok, 'init', { output: init.output });
    const applied = await tf('apply', '-auto-approve', '-input=false');
    t.ok(applied.ok, 'apply', { output: applied.output });
    const outputs = await tf('output', '-json');
    t.strictSame(
      Object.fromEntries(Object.entries(JSON.parse(outputs.output) as Record<string, { value: unknown }>).map(([k, v]) => [k, v.value])),
      { greeting: 'hallo', secret: 's3cr3t-hallo' },
      'the outputs, the sensitive one included, came through',
    );
    const reader = { authorization: `Bearer ${token.secret as string}` };
    t.equal((await fetch(`${server.baseUrl}/states/tf-seed/versions`, { headers: reader })).status, 403, 'but no versions');
    const document = await (await fetch(`${server.baseUrl}/states/tf-seed`, { headers: reader })).json();
    t.strictSame(document.resources, [], 'and no resources');
  });
});

t.test('the real Terraform CLI over HTTPS, signed in by a client certificate alone', { skip: terraform === undefined ? 'no terraform binary on this machine' : false }, async (t) => {
  const certs = await makeCertificates(t);
  const server = await startServer(t, { tls: await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.ca.certFile }) });
  const created = await fetchOverTls(server.baseUrl, certs, '/access/users', { name: 'carol', password: 'carol-password-1' });
  t.equal(created, 201);
  t.equal(await fetchOverTls(server.baseUrl, certs, '/access/grants', { role: 'write', subject: 'user:carol', glob: 'tls-*' }), 200);
  const carol = await certs.issueClient('/CN=carol');
  const dir = await tempDir(t);
  await fs.writeFile(path.join(dir, 'main.tf'), config(server, 'tls-state', 'seed'));
  await fs.writeFile(path.join(dir, 'cli.tfrc'), '');
  // No user name or password: the certificate names the user.
  const tf = cli(dir, {
    TF_HTTP_CLIENT_CA_CERTIFICATE_PEM: certs.ca.cert,
    TF_HTTP_CLIENT_CERTIFICATE_PEM: carol.cert,
    TF_HTTP_CLIENT_PRIVATE_KEY_PEM: carol.key,
  });
  const init = await tf('init', '-input=false');
  t.ok(init.ok, 'init', { output: init.output });
  const applied = await tf('apply', '-auto-approve', '-input=false');
  t.ok(applied.ok, 'apply', { output: applied.output });
  const { rows } = await server.db.pool.query<{ type: string; actor: string }>(
    "SELECT type, metadata->>'actor' AS actor FROM events WHERE stream_id = 'tls-state' ORDER BY stream_version",
  );
  t.ok(rows.length >= 3, 'locked, pushed, unlocked');
  t.strictSame([...new Set(rows.map((row) => row.actor))], ['cert:carol'], 'every event names the certificate');
  t.strictSame(rows[0]?.type, 'StateLocked');
  t.strictSame(rows[rows.length - 1]?.type, 'StateUnlocked', 'and its own unlock released the lock');
});
