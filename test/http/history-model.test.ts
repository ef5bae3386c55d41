import fc from 'fast-check';
import t from 'tap';
import { replay } from '../../src/projections/replay.js';
import { md5Base64 } from '../support/go-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { terraformState } from '../support/states.js';

/**
 * Model-based: random lock/unlock/push/delete/rollback sequences against the real server, checked
 * against a few lines of in-memory bookkeeping: statuses, current bodies, versions, diffs,
 * point-in-time reads, and a replay that must reproduce the live read models exactly.
 */

const NAMES = ['a', 'b'];
const IDS = ['L1', 'L2'];
const ADDRESSES = ['null_resource.x', 'null_resource.y', 'null_resource.z'];

type Op =
  | { op: 'lock'; name: string; id: string }
  | { op: 'unlock'; name: string; id: string | null }
  | { op: 'push'; name: string; id: string | null; resources: Record<string, string>; lineage: string }
  | { op: 'delete'; name: string; id: string | null }
  | { op: 'rollback'; name: string; id: string | null; back: number; force: boolean };

const name = fc.constantFrom(...NAMES);
const id = fc.constantFrom(...IDS);
const maybeId = fc.option(id, { freq: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('lock' as const), name, id }),
  fc.record({ op: fc.constant('unlock' as const), name, id: maybeId }),
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('push' as const),
      name,
      id: maybeId,
      resources: fc.dictionary(fc.constantFrom(...ADDRESSES), fc.constantFrom('1', '2'), { maxKeys: 3 }),
      lineage: fc.constantFrom('main', 'main', 'main', 'other'),
    }),
  },
  fc.record({ op: fc.constant('delete' as const), name, id: maybeId }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rollback' as const), name, id: maybeId, back: fc.nat(4), force: fc.boolean() }) },
);

interface Version {
  version: number;
  serial: number;
  lineage: string;
  resources: Record<string, string>;
  body: string;
  restoredFrom: number | null;
}

interface ModelState {
  lock: string | null;
  released: string | null;
  head: number | null;
  lastSerial: number;
  versions: Version[];
}

const bodyOf = (serial: number, lineage: string, resources: Record<string, string>) =>
  terraformState(serial, { lineage, resources: Object.fromEntries(Object.entries(resources).map(([a, v]) => [a, { id: a, value: v }])) }).toString();

/** The lock rule every write follows. */
const writeStatus = (s: ModelState, lockId: string | null): number | undefined =>
  s.lock !== null && s.lock !== lockId ? 423 : s.lock === null && lockId !== null ? 409 : undefined;

/** Applies one operation to the model; returns the status the server must answer. */
const step = (model: Map<string, ModelState>, op: Op): number => {
  const s = model.get(op.name) ?? { lock: null, released: null, head: null, lastSerial: 0, versions: [] };
  model.set(op.name, s);
  switch (op.op) {
    case 'lock':
      if (s.lock !== null && s.lock !== op.id) return 423;
      s.lock = op.id;
      return 200;
    case 'unlock':
      if (s.lock !== null && op.id !== null && s.lock !== op.id) return op.id === s.released ? 200 : 409;
      if (s.lock !== null) s.released = s.lock;
      s.lock = null;
      return 200;
    case 'push': {
      const refused = writeStatus(s, op.id);
      if (refused !== undefined) return refused;
      const serial = s.lastSerial + 1;
      s.versions.push({ version: s.versions.length + 1, serial, lineage: op.lineage, resources: op.resources, body: bodyOf(serial, op.lineage, op.resources), restoredFrom: null });
      s.head = s.versions.length;
      s.lastSerial = serial;
      return 200;
    }
    case 'delete': {
      const refused = writeStatus(s, op.id);
      if (refused !== undefined) return refused;
      s.head = null;
      return 200;
    }
    case 'rollback': {
      const target = s.versions[s.versions.length - 1 - op.back];
      const refused = writeStatus(s, op.id);
      if (refused !== undefined) return refused;
      if (target === undefined) return 404;
      const head = s.head === null ? undefined : s.versions[s.head - 1];
      if (head !== undefined && head.lineage !== target.lineage && !op.force) return 409;
      const serial = Math.max(s.lastSerial, target.serial) + 1;
      s.versions.push({ ...target, version: s.versions.length + 1, serial, body: target.body.replace(`"serial": ${target.serial},`, `"serial": ${serial},`), restoredFrom: target.version });
      s.head = s.versions.length;
      s.lastSerial = serial;
      return 200;
    }
  }
};

/** Sends the operation as a client would; a push sends `body` (the model's bytes for it). */
const send = async (server: TestServer, op: Op, body: string): Promise<number> => {
  const query = op.op !== 'lock' && op.op !== 'unlock' && op.id !== null ? `?ID=${op.id}` : '';
  const path = `/states/${op.name}`;
  const post = (p: string, body: string) => server.request(p, { method: 'POST', body });
  switch (op.op) {
    case 'lock':
      return (await post(`${path}/lock`, JSON.stringify({ ID: op.id }))).status;
    case 'unlock':
      return (await post(`${path}/unlock`, op.id === null ? '' : JSON.stringify({ ID: op.id }))).status;
    case 'push':
      return (await server.request(`${path}${query}`, { method: 'POST', headers: { 'content-md5': md5Base64(Buffer.from(body)) }, body })).status;
    case 'delete':
      return (await server.request(`${path}${query}`, { method: 'DELETE' })).status;
    case 'rollback': {
      const versions = (await (await server.request(`${path}/versions?limit=1`)).json().catch(() => ({ versions: [] }))) as { versions?: { version: number }[] };
      const latest = versions.versions?.[0]?.version ?? 0;
      return (
        await server.request(`${path}/rollback${query}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: Math.max(latest - op.back, 0) || 999, reason: 'model', force: op.force }),
        })
      ).status;
    }
  }
};

t.test('the server agrees with a simple model of the ledger', async (t) => {
  const server = await startServer(t, { blobs: 'fs' });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 25, maxLength: 40 }), async (ops) => {
      const prefix = `r${++run}-`;
      const model = new Map<string, ModelState>();
      const timeline: Array<{ at: string; heads: Map<string, string | null> }> = [];
      for (const raw of ops) {
        const op = { ...raw, name: prefix + raw.name };
        const expected = step(model, op);
        const pushed = op.op === 'push' && expected === 200 ? model.get(op.name)?.versions.at(-1)?.body : undefined;
        const status = await send(server, op, pushed ?? (op.op === 'push' ? bodyOf(1, op.lineage, op.resources) : ''));
        if (status !== expected) throw new Error(`${JSON.stringify(op)}: server answered ${status}, model expects ${expected}`);
        await new Promise((r) => setTimeout(r, 3));
        timeline.push({
          at: new Date().toISOString(),
          heads: new Map([...model].map(([n, s]) => [n, s.head === null ? null : (s.versions[s.head - 1]?.body ?? null)])),
        });
        await new Promise((r) => setTimeout(r, 3));
      }

      for (const [stateName, s] of model) {
        const current = await server.request(`/states/${stateName}`);
        const head = s.head === null ? undefined : s.versions[s.head - 1];
        if (head === undefined) {
          if (current.status !== 404) throw new Error(`${stateName} should be absent`);
        } else if ((await current.text()) !== head.body) throw new Error(`${stateName}: current body differs from the model`);

        const listed = s.versions.length === 0 ? [] : ((await (await server.request(`/states/${stateName}/versions?limit=1000`)).json()).versions as Array<{ version: number; serial: number; restored_from: number | null }>);
        const expectedVersions = [...s.versions].reverse().map((v) => ({ version: v.version, serial: v.serial, restored_from: v.restoredFrom }));
        if (JSON.stringify(listed.map((v) => ({ version: v.version, serial: v.serial, restored_from: v.restored_from }))) !== JSON.stringify(expectedVersions)) {
          throw new Error(`${stateName}: versions differ from the model`);
        }

        for (const v of s.versions.slice(1)) {
          const previous = s.versions[v.version - 2];
          if (previous === undefined) continue;
          const diff = (await (await server.request(`/states/${stateName}/diff?from=${previous.version}&to=${v.version}`)).json()) as {
            resources: { added: string[]; removed: string[]; changed: Array<{ address: string }> };
          };
          const before = Object.keys(previous.resources);
          const after = Object.keys(v.resources);
          const expected = {
            added: after.filter((a) => !before.includes(a)).sort(),
            removed: before.filter((a) => !after.includes(a)).sort(),
            changed: after.filter((a) => before.includes(a) && previous.resources[a] !== v.resources[a]).sort(),
          };
          const actual = { added: diff.resources.added, removed: diff.resources.removed, changed: diff.resources.changed.map((c) => c.address) };
          if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${stateName} diff ${previous.version}..${v.version}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`);
        }
      }

      for (const moment of timeline.filter((_, i) => i % 4 === 0)) {
        for (const [stateName, body] of moment.heads) {
          const then = await server.request(`/states/${stateName}?at=${moment.at}`);
          const text = then.status === 200 ? await then.text() : null;
          if (text !== body) throw new Error(`${stateName} at ${moment.at}: point-in-time read differs from the model`);
        }
      }

      const verified = await replay(server.db.pool, { kind: 'verify' });
      if (verified.differences.length > 0) throw new Error(`replay differs: ${JSON.stringify(verified.differences)}`);
    }),
    { numRuns: 10, seed: 4242, endOnFailure: true },
  );
  t.pass('every run agreed with the model');
});
