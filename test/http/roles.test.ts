/**
 * The role matrix (issue 7): every state route and method, called by an identity of every role
 * (none, outputs, read, write, admin) on `team-*`, allowed and denied.
 *
 * One server; the dev admin `alice` creates a token per role and grants it on `team-*` (`none-t`
 * holds `read` on `other-*` only: a role elsewhere, none here). Every (route, role) pair gets a
 * fresh state prepared by alice, so one call cannot disturb another, and a snapshot of the state
 * (versions, lock, events, current bytes) taken before the call must be unchanged after every
 * denial and after every allowed read.
 */
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { capturedLogger } from '../support/log-capture.js';
import { defaultClient, encryptedDocument, md5Base64, newLockInfo, seedStyleClient, type LockInfo } from '../support/go-client.js';
import { basicAuth, PASSWORD, startServer, USER, type TestServer } from '../support/server.js';
import { LINEAGE, terraformState } from '../support/states.js';

type Role = 'outputs' | 'read' | 'write' | 'admin';
type Who = 'none' | Role;
const WHO: readonly Who[] = ['none', 'outputs', 'read', 'write', 'admin'];
const reaches = (who: Who, role: Role): boolean => WHO.indexOf(who) >= WHO.indexOf(role);
const tokenName = (who: Who): string => `${who}-t`;
const actorOf = (who: Who): string => `token:${tokenName(who)}`;

const JSON_TYPE = 'application/json; charset=utf-8';
/** A name on team-* nobody ever creates: denials must read the same for it as for a state that exists. */
const NEVER = 'team-never-created';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// ---------------------------------------------------------------- state documents

const RESOURCE_A = { id: 'a-1', triggers: { build: '1' } };
const RESOURCE_B = { id: 'b-1', password: 'hunter2' };
const outputsOf = (serial: number) => ({
  endpoint: { value: `https://v${serial}.example.com` },
  db_password: { value: `s3cr3t-${serial}`, sensitive: true },
});
/** Version 1 has one resource, later ones two; each has an ordinary and a sensitive output. */
const doc = (serial: number): Buffer =>
  terraformState(serial, {
    resources: serial === 1 ? { 'null_resource.a': RESOURCE_A } : { 'null_resource.a': RESOURCE_A, 'null_resource.b': RESOURCE_B },
    outputs: outputsOf(serial),
  });
/** The outputs as Terraform writes them (and as the outputs-only document keeps them). */
const writtenOutputs = (serial: number) => ({
  endpoint: { value: `https://v${serial}.example.com`, type: 'string' },
  db_password: { value: `s3cr3t-${serial}`, type: 'string', sensitive: true },
});

/** The LockInfo Go's json.Marshal gives for statemgr.LockInfo{ID: id}: OpenTofu's force-unlock, every other field zero. */
const zeroLockInfo = (id: string) => ({ ID: id, Operation: '', Info: '', Who: '', Version: '', Created: '0001-01-01T00:00:00Z', Path: '' });

// ---------------------------------------------------------------- HTTP

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

interface Call {
  readonly method: string;
  readonly path: string;
  /** Sent as Terraform's http backend sends bodies: Content-Type application/json and a base64 Content-MD5. */
  readonly body?: Buffer;
}

/** Status, content type and body (parsed when JSON): what a denial is compared by. */
const answer = (reply: Reply) => {
  const type = reply.headers.get('content-type');
  const text = reply.body.toString('utf8');
  return { status: reply.status, type, body: type?.startsWith('application/json') && text !== '' ? (JSON.parse(text) as unknown) : text };
};

const hidden = (name: string) => ({
  status: 404,
  type: JSON_TYPE,
  body: { error: 'not_found', message: `state ${name} does not exist, or this identity has no role on it` },
});
const forbidden = (message: string) => ({ status: 403, type: JSON_TYPE, body: { error: 'forbidden', message } });
const tooLow = (needed: Role, name: string, who: Who) => forbidden(`this needs the ${needed} role on state ${name}; ${actorOf(who)} has ${who}`);

// ---------------------------------------------------------------- the cases

interface Prepared {
  readonly name: string;
  /** alice's lock on the state, when the case wants it locked. */
  readonly holder: LockInfo;
  /** A time after version 1 and before version 2. */
  readonly between: string;
}

interface Context {
  readonly t: Test;
  readonly reply: Reply;
  readonly who: Who;
  readonly p: Prepared;
}

interface Case {
  /** Method and path as the README names them; N is the state. */
  readonly route: string;
  /** Short, for the state names of this case. */
  readonly id: string;
  /** The role the route's gate asks for: below it the request never reaches the handler. */
  readonly gate: Role;
  /** The least role that succeeds (above the gate when the handler asks for more). */
  readonly needs: Role;
  /** How alice prepares the state: versions 1 and 2 always (encrypted ones if sealed); locked or not. */
  readonly state: { readonly locked: boolean; readonly sealed?: boolean; readonly lockedByCaller?: boolean };
  /** Authenticate as Terraform's http backend does (Basic, user name `token`), not with a Bearer header. */
  readonly terraform?: boolean;
  readonly call: (p: Prepared) => Call;
  /** The answer to a role at or above the gate but below `needs`. */
  readonly refusal?: (p: Prepared, who: Who) => ReturnType<typeof forbidden>;
  /** Whether an allowed call changes the state (else the snapshot must be unchanged). */
  readonly changes: boolean;
  readonly allowed: (c: Context) => Promise<void>;
}

t.test('roles on every state route', async (t) => {
  const log = capturedLogger();
  const server: TestServer = await startServer(t, { logger: log.logger });
  const secrets = new Map<Who, string>();

  const send = async (authorization: string, { method, path, body }: Call): Promise<Reply> => {
    const headers: Record<string, string> = { authorization, 'user-agent': 'Go-http-client/1.1' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-md5'] = md5Base64(body);
    }
    const response = await fetch(`${server.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body: new Uint8Array(body) }) });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  };
  const asAlice = (call: Call): Promise<Reply> => send(basicAuth(USER, PASSWORD), call);
  const as = (who: Who, call: Call, terraform = false): Promise<Reply> => {
    const secret = secrets.get(who) ?? '';
    return send(terraform ? basicAuth('token', secret) : `Bearer ${secret}`, call);
  };
  const aliceJson = async (path: string): Promise<any> => {
    const reply = await asAlice({ method: 'GET', path });
    if (reply.status !== 200) throw new Error(`alice GET ${path}: ${reply.status} ${reply.body.toString()}`);
    return JSON.parse(reply.body.toString('utf8'));
  };
  const aliceSend = async (method: string, path: string, body: unknown, status: number): Promise<any> => {
    const reply = await asAlice({ method, path, body: Buffer.from(JSON.stringify(body)) });
    if (reply.status !== status) throw new Error(`alice ${method} ${path} ${JSON.stringify(body)}: ${reply.status} ${reply.body.toString()}`);
    return JSON.parse(reply.body.toString('utf8'));
  };

  // ------------------------------------------------------------ access: tokens and grants

  for (const who of WHO) {
    const created = await aliceSend('POST', '/access/tokens', { name: tokenName(who) }, 201);
    t.strictSame({ ...created, secret: '' }, { name: tokenName(who), secret: '', expires_at: null });
    t.ok(/^slt_[A-Za-z0-9_-]{43}$/.test(created.secret), 'the secret has the token format');
    secrets.set(who, created.secret);
  }
  const GRANTS = WHO.map((who) =>
    who === 'none' ? { role: 'read', subject: actorOf(who), glob: 'other-*' } : { role: who, subject: actorOf(who), glob: 'team-*' },
  );
  for (const grant of GRANTS) t.strictSame(await aliceSend('POST', '/access/grants', grant, 200), { ...grant, changed: true });
  // A database user with a password, so that the access events hold a password hash that must not leak.
  t.strictSame(await aliceSend('POST', '/access/users', { name: 'carol', password: 'carol-password-123' }, 201), { name: 'carol' });

  // ------------------------------------------------------------ state fixtures

  const push = async (name: string, body: Buffer) => {
    const reply = await asAlice({ method: 'POST', path: `/states/${name}`, body });
    if (reply.status !== 200) throw new Error(`alice pushes ${name}: ${reply.status} ${reply.body.toString()}`);
  };

  /** Every state alice prepared, and those deleted since: what GET /states must list. */
  const prepared = new Set<string>();
  const deleted = new Set<string>();
  /** lockedByCaller: the caller (`who`) takes the lock instead of alice, when it may. */
  const prepare = async (name: string, state: Case['state'], who?: Who): Promise<Prepared> => {
    prepared.add(name);
    await push(name, state.sealed === true ? encryptedDocument(1) : doc(1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await push(name, state.sealed === true ? encryptedDocument(2) : doc(2));
    const holder = newLockInfo({ Who: 'alice@laptop', Operation: 'OperationTypeApply', Info: 'alice applies' });
    if (state.locked) {
      const lock = { method: 'LOCK', path: `/states/${name}`, body: Buffer.from(JSON.stringify(holder)) };
      const locked = state.lockedByCaller === true && who !== undefined && reaches(who, 'write') ? await as(who, lock, true) : await asAlice(lock);
      if (locked.status !== 200) throw new Error(`alice locks ${name}: ${locked.status} ${locked.body.toString()}`);
    }
    return { name, holder, between };
  };

  /** Everything a call could change, as alice sees it. */
  const snapshot = async (name: string) => {
    const get = async (path: string) => answer(await asAlice({ method: 'GET', path }));
    // Every change is an event; the versions and the lock are what a denied write must leave as they were.
    return {
      versions: await get(`/states/${name}/versions`),
      lock: await get(`/states/${name}/lock`),
      events: await get(`/states/${name}/events?limit=1000`),
    };
  };

  const versionsOf = async (name: string): Promise<Array<[number, number, string]>> =>
    (await aliceJson(`/states/${name}/versions`)).versions.map((v: { version: number; serial: number; created_by: string }) => [v.version, v.serial, v.created_by]);
  /** The state's last event, as the caller itself reads it in GET /states/N/events. */
  const lastEvent = async (name: string, who: Who): Promise<any> => {
    const reply = await as(who, { method: 'GET', path: `/states/${name}/events?limit=1000` });
    if (reply.status !== 200) throw new Error(`${who} GET /states/${name}/events: ${reply.status} ${reply.body.toString()}`);
    return JSON.parse(reply.body.toString('utf8')).events.at(-1);
  };
  const notLocked = (name: string) => ({ status: 404, type: JSON_TYPE, body: { error: 'not_found', message: `state ${name} is not locked` } });

  /** The one 'access denied' warn line of this request. */
  const deniedLine = (t: Test, reply: Reply, expected: Record<string, unknown>) => {
    const id = reply.headers.get('x-request-id');
    const all = log.lines().filter((line) => line.request_id === id || line.requestId === id);
    const lines = all.filter((line) => line.msg === 'access denied');
    t.equal(lines.length, 1, `one 'access denied' line for request ${id}; logged: ${JSON.stringify(all.map((line) => line.msg))}`);
    const line = lines[0] ?? {};
    t.strictSame(Object.fromEntries(Object.keys(expected).map((key) => [key, line[key]])), expected, 'the denial is logged');
  };

  const json = (reply: Reply): any => JSON.parse(reply.body.toString('utf8'));
  const lockBody = (info: unknown): Buffer => Buffer.from(JSON.stringify(info));

  // ------------------------------------------------------------ expected effects, shared by several routes

  const pushed = (method: 'POST' | 'PUT'): Case => ({
    route: `${method} /states/N`,
    id: `push-${method.toLowerCase()}`,
    gate: 'write',
    needs: 'write',
    state: { locked: false },
    terraform: true,
    call: (p) => ({ method, path: `/states/${p.name}`, body: doc(3) }),
    changes: true,
    allowed: async ({ t, reply, who, p }) => {
      t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { version: 3, sha256: sha256(doc(3)), size: doc(3).length } });
      t.strictSame(await versionsOf(p.name), [[3, 3, actorOf(who)], [2, 2, 'user:alice'], [1, 1, 'user:alice']]);
      const event = await lastEvent(p.name, who);
      t.strictSame(
        { type: event.type, actor: event.actor, version: event.data.version, sha256: event.data.sha256, lock_id: event.data.lock_id },
        { type: 'StatePushed', actor: actorOf(who), version: 3, sha256: sha256(doc(3)), lock_id: null },
      );
      t.strictSame((await asAlice({ method: 'GET', path: `/states/${p.name}` })).body.toString(), doc(3).toString(), 'the pushed bytes are current');
    },
  });

  const locked = (method: string, suffix: string): Case => ({
    route: `${method} /states/N${suffix}`,
    id: `lock-${method.toLowerCase()}${suffix.replace('/', '-')}`,
    gate: 'write',
    needs: 'write',
    state: { locked: false },
    terraform: true,
    call: (p) => ({ method, path: `/states/${p.name}${suffix}`, body: lockBody({ ...p.holder, Who: 'ci@runner' }) }),
    changes: true,
    allowed: async ({ t, reply, who, p }) => {
      const info = { ...p.holder, Who: 'ci@runner' };
      t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: info });
      const lock = await aliceJson(`/states/${p.name}/lock`);
      t.strictSame(lock, { ...info, acquired_at: lock.acquired_at, acquired_by: actorOf(who), lease_until: null, expired: false });
      t.ok(!Number.isNaN(Date.parse(lock.acquired_at)), 'acquired_at is a time');
      const event = await lastEvent(p.name, who);
      t.strictSame({ type: event.type, actor: event.actor, data: event.data }, { type: 'StateLocked', actor: actorOf(who), data: { lock: info, taken_by: { actor: actorOf(who), subject: null }, lease: null } });
    },
  });

  const unlockedOwn = (method: string, suffix: string): Case => ({
    route: `${method} /states/N${suffix} (its own lock, full LockInfo)`,
    id: `unlock-${method.toLowerCase()}${suffix.replace('/', '-')}`,
    gate: 'write',
    needs: 'write',
    state: { locked: true, lockedByCaller: true },
    terraform: true,
    call: (p) => ({ method, path: `/states/${p.name}${suffix}`, body: lockBody(p.holder) }),
    changes: true,
    allowed: async ({ t, reply, who, p }) => {
      t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { released: true, forced: false } });
      t.strictSame(answer(await asAlice({ method: 'GET', path: `/states/${p.name}/lock` })), notLocked(p.name));
      const event = await lastEvent(p.name, who);
      t.strictSame({ type: event.type, actor: event.actor, data: event.data }, { type: 'StateUnlocked', actor: actorOf(who), data: { lock_id: p.holder.ID } });
    },
  });

  const forceUnlocked = (method: string, suffix: string, dialect: string, body: (p: Prepared) => Buffer): Case => ({
    route: `${method} /states/N${suffix} force-unlock (${dialect})`,
    id: `force-${method.toLowerCase()}${suffix.replace('/', '-')}-${dialect.split(',')[0]?.toLowerCase()}`,
    gate: 'write',
    needs: 'admin',
    state: { locked: true },
    terraform: true,
    call: (p) => ({ method, path: `/states/${p.name}${suffix}`, body: body(p) }),
    refusal: (p) =>
      forbidden(
        `releasing a lock this client does not hold (a force-unlock) needs the admin role on the state; the lock ${p.holder.ID} is held by ` +
          `${p.holder.Who} for ${p.holder.Operation} since ${p.holder.Created}, and releasing it may break that run`,
      ),
    changes: true,
    allowed: async ({ t, reply, who, p }) => {
      t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { released: true, forced: true } });
      t.strictSame(answer(await asAlice({ method: 'GET', path: `/states/${p.name}/lock` })), notLocked(p.name));
      const event = await lastEvent(p.name, who);
      t.strictSame({ type: event.type, actor: event.actor, data: event.data }, { type: 'LockForceReleased', actor: actorOf(who), data: { lock: p.holder, reason: null } });
    },
  });

  const wrongId = (method: string, suffix: string): Case => ({
    route: `${method} /states/N${suffix} with another lock's ID`,
    id: `wrong-${method.toLowerCase()}${suffix.replace('/', '-')}`,
    gate: 'write',
    needs: 'write',
    state: { locked: true },
    terraform: true,
    call: (p) => ({ method, path: `/states/${p.name}${suffix}`, body: lockBody(newLockInfo()) }),
    changes: false,
    allowed: async ({ t, reply, p }) => {
      t.strictSame(answer(reply), { status: 409, type: JSON_TYPE, body: p.holder }, '409 with the holder, which the client prints');
    },
  });

  /** Reads answered with stored bytes exactly as they were pushed. */
  const readsBytes = (bytes: (p: Prepared) => Buffer) => async ({ t, reply, p }: Context) => {
    t.equal(reply.status, 200);
    t.strictSame(reply.body.toString('utf8'), bytes(p).toString('utf8'));
    t.strictSame(reply.headers.get('content-md5'), md5Base64(bytes(p)));
  };

  // ------------------------------------------------------------ the matrix

  const CASES: Case[] = [
    {
      route: 'GET /states/N',
      id: 'get',
      gate: 'outputs',
      needs: 'outputs',
      state: { locked: true },
      terraform: true,
      call: (p) => ({ method: 'GET', path: `/states/${p.name}` }),
      changes: false,
      allowed: async (c) => {
        if (c.who !== 'outputs') return readsBytes(() => doc(2))(c);
        const { t, reply } = c;
        // A valid state holding only the outputs: an unchanged terraform_remote_state reads it.
        t.equal(reply.status, 200);
        t.strictSame(reply.headers.get('content-type'), 'application/json; charset=utf-8');
        t.strictSame(reply.headers.get('x-state-version'), '2');
        t.strictSame(reply.headers.get('content-md5'), md5Base64(reply.body));
        t.strictSame(JSON.parse(reply.body.toString('utf8')), {
          version: 4,
          terraform_version: '1.9.8',
          serial: 2,
          lineage: LINEAGE,
          outputs: writtenOutputs(2),
          resources: [],
          check_results: null,
        });
        t.notOk(reply.body.toString().includes('hunter2'), 'no resource attribute leaks');
      },
    },
    {
      route: 'GET /states/N?at=',
      id: 'get-at',
      gate: 'outputs',
      needs: 'read',
      state: { locked: true },
      terraform: true,
      call: (p) => ({ method: 'GET', path: `/states/${p.name}?at=${encodeURIComponent(p.between)}` }),
      refusal: (p) => forbidden(`reading state ${p.name} at a past time needs the read role; this identity may read only its current outputs`),
      changes: false,
      allowed: readsBytes(() => doc(1)),
    },
    {
      route: 'GET /states/N (OpenTofu-encrypted)',
      id: 'get-sealed',
      gate: 'outputs',
      needs: 'read',
      state: { locked: false, sealed: true },
      terraform: true,
      call: (p) => ({ method: 'GET', path: `/states/${p.name}` }),
      refusal: (p) =>
        forbidden(`state ${p.name} is encrypted with OpenTofu's state encryption: the server cannot read its outputs, so reading it needs the read role`),
      changes: false,
      allowed: readsBytes(() => encryptedDocument(2)),
    },
    {
      route: 'GET /states/N/outputs',
      id: 'outputs',
      gate: 'outputs',
      needs: 'outputs',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/outputs` }),
      changes: false,
      allowed: async ({ t, reply, who, p }) => {
        // Sensitive values only for those who may read the state.
        const outputs = who === 'outputs' ? { ...writtenOutputs(2), db_password: { type: 'string', sensitive: true } } : writtenOutputs(2);
        t.strictSame(answer(reply), {
          status: 200,
          type: JSON_TYPE,
          body: { name: p.name, version: 2, serial: 2, lineage: LINEAGE, outputs },
        });
      },
    },
    {
      route: 'GET /states/N/outputs/OUTPUT',
      id: 'output',
      gate: 'outputs',
      needs: 'outputs',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/outputs/endpoint` }),
      changes: false,
      allowed: async ({ t, reply }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { name: 'endpoint', type: 'string', sensitive: false, value: 'https://v2.example.com' } });
      },
    },
    {
      route: 'GET /states/N/outputs/OUTPUT (a sensitive one)',
      id: 'output-sensitive',
      gate: 'outputs',
      needs: 'read',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/outputs/db_password` }),
      refusal: (p, who) => forbidden(`output "db_password" of state ${p.name} is sensitive: its value needs the read role; ${actorOf(who)} has ${who}`),
      changes: false,
      allowed: async ({ t, reply }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { name: 'db_password', type: 'string', sensitive: true, value: 's3cr3t-2' } });
      },
    },
    {
      route: 'GET /states/N/versions',
      id: 'versions',
      gate: 'read',
      needs: 'read',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/versions` }),
      changes: false,
      allowed: async ({ t, reply, p }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: await aliceJson(`/states/${p.name}/versions`) }, 'what alice sees');
        const body = json(reply);
        t.strictSame(
          body.versions.map((v: any) => [v.version, v.serial, v.sha256, v.created_by, v.resources, v.outputs]),
          [
            [2, 2, sha256(doc(2)), 'user:alice', 2, 2],
            [1, 1, sha256(doc(1)), 'user:alice', 1, 2],
          ],
        );
        t.strictSame([body.name, body.next], [p.name, null]);
      },
    },
    {
      route: 'GET /states/N/versions/1',
      id: 'version-1',
      gate: 'read',
      needs: 'read',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/versions/1` }),
      changes: false,
      allowed: readsBytes(() => doc(1)),
    },
    {
      route: 'GET /states/N/diff',
      id: 'diff',
      gate: 'read',
      needs: 'read',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/diff` }),
      changes: false,
      allowed: async ({ t, reply, p }) => {
        t.strictSame(answer(reply), {
          status: 200,
          type: JSON_TYPE,
          body: {
            name: p.name,
            from: 1,
            to: 2,
            resources: { added: ['null_resource.b'], removed: [], changed: [] },
            outputs: {
              added: [],
              removed: [],
              changed: [
                { name: 'db_password', sensitive: true },
                { name: 'endpoint', sensitive: false, before: 'https://v1.example.com', after: 'https://v2.example.com' },
              ],
            },
          },
        });
      },
    },
    {
      route: 'GET /states/N/events',
      id: 'events',
      gate: 'read',
      needs: 'read',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/events` }),
      changes: false,
      allowed: async ({ t, reply, p }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: await aliceJson(`/states/${p.name}/events`) }, 'what alice sees');
        const body = json(reply);
        t.strictSame(
          body.events.map((e: any) => [e.state, e.stream_version, e.type, e.actor, e.lock_id]),
          [
            [p.name, 1, 'StatePushed', 'user:alice', null],
            [p.name, 2, 'StatePushed', 'user:alice', null],
            [p.name, 3, 'StateLocked', 'user:alice', p.holder.ID],
          ],
        );
      },
    },
    {
      route: 'GET /states/N/lock',
      id: 'get-lock',
      gate: 'read',
      needs: 'read',
      state: { locked: true },
      call: (p) => ({ method: 'GET', path: `/states/${p.name}/lock` }),
      changes: false,
      allowed: async ({ t, reply, p }) => {
        const body = json(reply);
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { ...p.holder, acquired_at: body.acquired_at, acquired_by: 'user:alice', lease_until: null, expired: false } });
        t.ok(!Number.isNaN(Date.parse(body.acquired_at)), 'acquired_at is a time');
      },
    },
    pushed('POST'),
    pushed('PUT'),
    locked('LOCK', ''),
    locked('POST', '/lock'),
    locked('LOCK', '/lock'),
    unlockedOwn('UNLOCK', ''),
    unlockedOwn('POST', '/unlock'),
    unlockedOwn('UNLOCK', '/unlock'),
    // Terraform's force-unlock: a fresh process with no LockInfo sends an empty body (still with Content-Type and Content-MD5).
    forceUnlocked('UNLOCK', '', 'Terraform, empty body', () => Buffer.alloc(0)),
    forceUnlocked('POST', '/unlock', 'Terraform, empty body', () => Buffer.alloc(0)),
    // OpenTofu 1.10+: a LockInfo carrying only the ID, as the test client sends it and as Go marshals the zero struct.
    forceUnlocked('UNLOCK', '', 'OpenTofu, ID only', (p) => lockBody({ ID: p.holder.ID })),
    forceUnlocked('POST', '/unlock', 'OpenTofu, ID only', (p) => lockBody({ ID: p.holder.ID })),
    forceUnlocked('UNLOCK', '', 'OpenTofu-zero, ID and zero fields', (p) => lockBody(zeroLockInfo(p.holder.ID))),
    // Anyone who may read sees the holder's whole LockInfo: sent back by another identity, it still forces.
    forceUnlocked('UNLOCK', '', 'holder-LockInfo, from another identity', (p) => lockBody(p.holder)),
    forceUnlocked('POST', '/unlock', 'holder-LockInfo, from another identity', (p) => lockBody(p.holder)),
    wrongId('UNLOCK', ''),
    wrongId('POST', '/unlock'),
    {
      route: 'DELETE /states/N',
      id: 'delete',
      gate: 'admin',
      needs: 'admin',
      state: { locked: false },
      terraform: true,
      call: (p) => ({ method: 'DELETE', path: `/states/${p.name}` }),
      changes: true,
      allowed: async ({ t, reply, who, p }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { deleted: true } });
        deleted.add(p.name);
        t.strictSame(answer(await asAlice({ method: 'GET', path: `/states/${p.name}` })), { status: 404, type: null, body: '' }, 'gone');
        t.strictSame(await versionsOf(p.name), [[2, 2, 'user:alice'], [1, 1, 'user:alice']], 'its history stays');
        const event = await lastEvent(p.name, who);
        t.strictSame({ type: event.type, actor: event.actor, data: event.data }, { type: 'StateDeleted', actor: actorOf(who), data: { version: 2, lock_id: null } });
      },
    },
    {
      route: 'DELETE /states/N/lock (an administrator releasing a lock, with a reason)',
      id: 'release',
      gate: 'admin',
      needs: 'admin',
      state: { locked: true },
      call: (p) => ({ method: 'DELETE', path: `/states/${p.name}/lock`, body: lockBody({ reason: 'the CI job was cancelled' }) }),
      changes: true,
      allowed: async ({ t, reply, who, p }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { released: true, lock: p.holder, reason: 'the CI job was cancelled' } });
        t.strictSame(answer(await asAlice({ method: 'GET', path: `/states/${p.name}/lock` })), notLocked(p.name));
        const event = await lastEvent(p.name, who);
        t.strictSame({ type: event.type, actor: event.actor, data: event.data }, { type: 'LockForceReleased', actor: actorOf(who), data: { lock: p.holder, reason: 'the CI job was cancelled' } });
      },
    },
    {
      route: 'POST /states/N/rollback',
      id: 'rollback',
      gate: 'admin',
      needs: 'admin',
      state: { locked: false },
      call: (p) => ({ method: 'POST', path: `/states/${p.name}/rollback`, body: lockBody({ version: 1, reason: 'v2 broke prod' }) }),
      changes: true,
      allowed: async ({ t, reply, who, p }) => {
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { version: 3, restored_from: 1, serial: 3 } });
        t.strictSame(await versionsOf(p.name), [[3, 3, actorOf(who)], [2, 2, 'user:alice'], [1, 1, 'user:alice']]);
        const event = await lastEvent(p.name, who);
        t.strictSame(
          [event.type, event.actor, event.data.version, event.data.from_version, event.data.to_version, event.data.reason],
          ['StateRolledBack', actorOf(who), 3, 2, 1, 'v2 broke prod'],
        );
      },
    },
  ];

  t.test('the matrix', async (t) => {
    t.equal(new Set(CASES.map((c) => c.id)).size, CASES.length, 'every case has states of its own');
    // No two cases share a state, so they may run side by side.
    t.jobs = 8;
    for (const c of CASES) {
      t.test(c.route, async (t) => {
        // Denied calls and reads share one state (each must leave it as it was); every allowed change gets a fresh one.
        const shared = await prepare(`team-${c.id}`, c.state);
        for (const who of WHO) {
          t.test(`as ${who}`, async (t) => {
            const p = reaches(who, c.needs) && c.changes ? await prepare(`team-${c.id}-${who}`, c.state, who) : shared;
            const before = await snapshot(p.name);
            const call = c.call(p);
            const reply = await as(who, call, c.terraform);
            if (!reaches(who, c.gate)) {
              const expected = who === 'none' ? hidden(p.name) : tooLow(c.gate, p.name, who);
              t.strictSame(answer(reply), expected, who === 'none' ? 'no role: hidden' : `needs ${c.gate}`);
              const path = call.path.split('?')[0];
              deniedLine(t, reply, { level: 40, actor: actorOf(who), state: p.name, needed: c.gate, has: who === 'none' ? null : who, method: call.method, path });
              const ghost = await as(who, c.call({ ...p, name: NEVER }), c.terraform);
              t.strictSame(answer(ghost), who === 'none' ? hidden(NEVER) : tooLow(c.gate, NEVER, who), 'the same for a state never created');
              t.strictSame(answer(ghost), JSON.parse(JSON.stringify(answer(reply)).replaceAll(p.name, NEVER)), 'identical but for the name');
              t.strictSame(await snapshot(p.name), before, 'the denied call changed nothing');
            } else if (!reaches(who, c.needs)) {
              const refusal = c.refusal?.(p, who);
              t.ok(refusal !== undefined, 'the case says how it refuses');
              t.strictSame(answer(reply), refusal, `needs ${c.needs}`);
              deniedLine(t, reply, { level: 40, actor: actorOf(who), state: p.name, needed: c.needs, has: who });
              t.strictSame(await snapshot(p.name), before, 'the denied call changed nothing');
            } else {
              await c.allowed({ t, reply, who, p });
              if (!c.changes) t.strictSame(await snapshot(p.name), before, 'changed nothing');
            }
          });
        }
      });
    }
  });

  t.test("a writer's whole Terraform run, in both client configurations", async (t) => {
    for (const [dialect, client] of [
      ['LOCK/UNLOCK on the state address', defaultClient],
      ['POST on /lock and /unlock', seedStyleClient],
    ] as const) {
      const name = `team-run-${client === defaultClient ? 'default' : 'seed'}`;
      prepared.add(name);
      const c = client(server.baseUrl, name, { username: 'token', password: secrets.get('write') ?? '' });
      const info = newLockInfo();
      t.strictSame(await c.lock(info), { locked: true }, `${dialect}: locked`);
      const put = await c.put(doc(1));
      t.strictSame([put.status, JSON.parse(put.body.toString()).version], [200, 1], `${dialect}: pushed under the lock`);
      t.strictSame(answer(await c.unlock()), { status: 200, type: JSON_TYPE, body: { released: true, forced: false } }, `${dialect}: unlocked`);
      const events = (await aliceJson(`/states/${name}/events`)).events;
      t.strictSame(
        events.map((e: any) => [e.type, e.actor, e.lock_id]),
        [
          ['StateLocked', actorOf('write'), info.ID],
          ['StatePushed', actorOf('write'), info.ID],
          ['StateUnlocked', actorOf('write'), info.ID],
        ],
        `${dialect}: every event names the token`,
      );
    }
  });

  t.test('GET /states/N/outputs of an OpenTofu-encrypted state', async (t) => {
    const p = await prepare('team-outputs-sealed', { locked: false, sealed: true });
    const refusal = forbidden(`state ${p.name} is encrypted with OpenTofu's state encryption: the server cannot read its outputs, so reading it needs the read role`);
    const reply = await as('outputs', { method: 'GET', path: `/states/${p.name}/outputs` });
    t.strictSame(answer(reply), refusal, 'an outputs-only caller cannot have them');
    deniedLine(t, reply, { level: 40, actor: actorOf('outputs'), state: p.name, needed: 'read', has: 'outputs' });
    t.strictSame(answer(await as('none', { method: 'GET', path: `/states/${p.name}/outputs` })), hidden(p.name));
    // A reader is not short of a role: the server cannot read the outputs, as /diff cannot (422 encrypted_state there).
    const reader = answer(await as('read', { method: 'GET', path: `/states/${p.name}/outputs` }));
    t.strictSame([reader.status, reader.type, (reader.body as { error?: unknown }).error], [422, JSON_TYPE, 'encrypted_state'], 'a reader gets 422, not 403');
    t.notOk(JSON.stringify(reader.body).includes('needs the read role'), 'a reader is not told it needs the role it has');
  });

  t.test('a state never created reads as absent to those with a role on it', async (t) => {
    t.strictSame(answer(await as('outputs', { method: 'GET', path: `/states/${NEVER}` }, true)), { status: 404, type: null, body: '' });
    t.strictSame(answer(await as('read', { method: 'GET', path: `/states/${NEVER}` }, true)), { status: 404, type: null, body: '' });
    t.strictSame(answer(await as('outputs', { method: 'GET', path: `/states/${NEVER}/outputs` })), {
      status: 404,
      type: JSON_TYPE,
      body: { error: 'not_found', message: `state ${NEVER} has no current version` },
    });
    t.strictSame(answer(await asAlice({ method: 'GET', path: `/states/${NEVER}/versions` })), {
      status: 404,
      type: JSON_TYPE,
      body: { error: 'not_found', message: `state ${NEVER} does not exist` },
    }, 'none of the denied writes created it');
  });

  // ------------------------------------------------------------ lists

  t.test('listings', async (t) => {
    await prepare('other-net', { locked: false });
    const alice = (await aliceJson('/states')).states as Array<{ name: string }>;
    const teams = alice.filter((s) => s.name.startsWith('team-'));
    const others = alice.filter((s) => s.name.startsWith('other-'));
    t.strictSame(
      alice.map((s) => s.name).sort(),
      [...prepared].filter((name) => !deleted.has(name)).sort(),
      'alice sees every state there is (and not the one never created)',
    );
    t.ok(teams.length > 40 && others.length === 1, 'team-* and other-* states');

    const feed = async (who: Who | 'alice'): Promise<any[]> => {
      const events: any[] = [];
      for (let after = 0; ; ) {
        const call = { method: 'GET', path: `/events?after=${after}&limit=1000` };
        const reply = who === 'alice' ? await asAlice(call) : await as(who, call);
        if (reply.status !== 200) throw new Error(`${who} GET /events: ${reply.status}`);
        const page = json(reply);
        if (page.events.length === 0) break;
        events.push(...page.events);
        after = page.next;
      }
      return events;
    };
    const aliceFeed = await feed('alice');

    t.test('GET /states shows what the caller may read', async (t) => {
      for (const who of WHO) {
        const reply = await as(who, { method: 'GET', path: '/states' });
        const expected = who === 'none' ? others : who === 'outputs' ? [] : teams;
        t.strictSame(answer(reply), { status: 200, type: JSON_TYPE, body: { states: expected } }, `${who}: ${who === 'outputs' ? 'nothing (outputs is not read)' : 'its states only'}`);
      }
    });

    t.test('GET /events shows the events of the states the caller may read, and no access events', async (t) => {
      const stateEvents = aliceFeed.filter((e) => e.state !== '$access');
      for (const who of WHO) {
        const events = await feed(who);
        const expected =
          who === 'none' ? stateEvents.filter((e) => e.state.startsWith('other-')) : who === 'outputs' ? [] : stateEvents.filter((e) => e.state.startsWith('team-'));
        t.ok(who === 'outputs' || expected.length > 0, `${who}: something to see`);
        t.strictSame(events, expected, `${who}: the events of its states, in order`);
        t.notOk(events.some((e) => e.state === '$access'), `${who}: no access events`);
      }
      const reply = await as('admin', { method: 'GET', path: '/events?limit=1000' });
      t.notOk(json(reply).events.some((e: any) => e.state === '$access'), 'admin on team-* is not an access manager');
    });

    t.test('alice, admin on *, sees the access events, without hashes or secrets', async (t) => {
      const access = aliceFeed.filter((e) => e.state === '$access');
      t.strictSame(
        access.map((e) => [e.type, e.actor, e.data]),
        [
          ...WHO.map((who) => ['TokenCreated', 'user:alice', { name: tokenName(who), expires_at: null }]),
          ...GRANTS.map((grant) => ['GrantAdded', 'user:alice', grant]),
          ['UserAdded', 'user:alice', { name: 'carol', password: 'set' }],
        ],
      );
      // What the events hold in the database: none of it may reach the feed.
      const { rows } = await server.db.pool.query<{ data: any }>(`SELECT data FROM events WHERE stream_id = '$access' AND type IN ('UserAdded', 'TokenCreated') ORDER BY global_position`);
      const stored = rows.map((row) => row.data);
      t.strictSame(
        stored.map((data) => Object.keys(data).sort()),
        [...WHO.map(() => ['expires_at', 'name', 'secret_sha256']), ['name', 'password']],
        'the store holds the hashes',
      );
      const hashes = stored.flatMap((data) => (data.password ? [data.password.hash, data.password.salt] : [data.secret_sha256])) as string[];
      t.equal(hashes.length, 7);
      const text = JSON.stringify(aliceFeed);
      for (const leak of [...hashes, 'secret_sha256', 'scrypt', 'carol-password-123', ...secrets.values()]) t.notOk(text.includes(leak), `the feed does not hold ${leak.slice(0, 12)}…`);
    });

    t.test('managing access takes admin on *', async (t) => {
      const reply = await as('admin', { method: 'GET', path: '/access/tokens' });
      t.strictSame(
        answer(reply),
        forbidden('managing access needs the admin role on every state (a grant of admin on *); token:admin-t has none'),
      );
      deniedLine(t, reply, { level: 40, actor: actorOf('admin'), state: null, needed: 'admin on *', has: null });
    });

    t.test('none-t reads the states of its own grant', async (t) => {
      t.strictSame(answer(await as('none', { method: 'GET', path: '/states/other-net/outputs' })), {
        status: 200,
        type: JSON_TYPE,
        body: { name: 'other-net', version: 2, serial: 2, lineage: LINEAGE, outputs: writtenOutputs(2) },
      });
      const reply = await as('none', { method: 'POST', path: '/states/other-net', body: doc(3) }, true);
      t.strictSame(answer(reply), forbidden('this needs the write role on state other-net; token:none-t has read'));
      deniedLine(t, reply, { level: 40, actor: actorOf('none'), state: 'other-net', needed: 'write', has: 'read' });
    });
  });
});
