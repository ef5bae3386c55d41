import t from 'tap';
import { diffRunner } from '../../src/history/diff-runner.js';

const bytes = (value: unknown): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(value)));
const state = (id: string) => ({ version: 4, resources: [{ mode: 'managed', type: 'x', name: 'y', instances: [{ attributes: { id } }] }], outputs: {} });

t.test('a comparison too big for the worker heap is refused, and the next one runs in a fresh worker', async (t) => {
  const runner = diffRunner({ heapMb: 64, timeoutMs: 60_000, maxWaiting: 4 });
  // About 40 MB of small objects: far more than a 64 MB heap holds once parsed.
  const huge = new Uint8Array(Buffer.from(`{"resources":[${'{"a":[1,2,3]},'.repeat(3_000_000)}{}]}`));
  t.equal(await runner.diff(async () => ({ from: null, to: huge })), 'too_large');
  const diff = await runner.diff(async () => ({ from: bytes(state('1')), to: bytes(state('2')) }));
  t.strictSame(typeof diff === 'string' ? diff : diff.resources.changed, [{ address: 'x.y', attributes: ['id'] }]);
});

t.test('unreadable versions, values nested too deep, too slow and too many waiting are refusals, not failures', async (t) => {
  const runner = diffRunner({ heapMb: 256, timeoutMs: 60_000, maxWaiting: 1 });
  t.equal(await runner.diff(async () => ({ from: null, to: new Uint8Array(Buffer.from('{"resources": [')) })), 'unreadable');
  const deep = `{"outputs":{"o":{"value":${'['.repeat(2000)}${']'.repeat(2000)}}}}`;
  t.equal(await runner.diff(async () => ({ from: null, to: new Uint8Array(Buffer.from(deep)) })), 'too_deep');
  let release: () => void = () => undefined;
  const held = runner.diff(() => new Promise((resolve) => (release = () => resolve({ from: null, to: bytes(state('1')) }))));
  t.equal(await runner.diff(async () => ({ from: null, to: bytes(state('2')) })), 'busy', 'beyond maxWaiting');
  release();
  t.not(await held, 'busy');

  const slow = diffRunner({ heapMb: 256, timeoutMs: 1, maxWaiting: 4 });
  t.equal(await slow.diff(async () => ({ from: null, to: bytes(state('1')) })), 'too_slow', 'the worker is stopped after its time');
});
