import t from 'tap';
import { compareDigests, digestsOf, NO_INSTANCES, type Digests } from '../../src/projections/async/run-changes.js';

const known = (entries: Record<string, string | null>): Digests => ({ known: true, byAddress: new Map(Object.entries(entries)) });
const instance = (address: string, attributesDigest: string | null) => ({
  address, resourceAddress: address, mode: 'managed', type: 't', name: 'n', module: '', provider: 'p', indexKey: null, id: null, attributesDigest,
});

t.test('instances compared by address: added, changed (digests differ), removed', async (t) => {
  t.strictSame(compareDigests(NO_INSTANCES, known({ a: 'x', b: 'y' })), { added: 2, changed: 0, removed: 0 }, 'from nothing');
  t.strictSame(compareDigests(known({ a: 'x', b: 'y', c: 'z' }), known({ a: 'x', b: 'Y', d: 'w' })), { added: 1, changed: 1, removed: 1 });
  t.strictSame(compareDigests(known({ a: null }), known({ a: null })), { added: 0, changed: 0, removed: 0 }, 'attributes that are no object on both sides: unchanged');
  t.strictSame(compareDigests(known({ a: null }), known({ a: 'x' })), { added: 0, changed: 1, removed: 0 });
  t.strictSame(compareDigests(known({ a: 'x' }), NO_INSTANCES), { added: 0, changed: 0, removed: 1 }, 'to nothing');
});

t.test('unknown on either side: the reason, the earlier side first', async (t) => {
  const encrypted = digestsOf(2, { kind: 'encrypted' });
  const unreadable = digestsOf(3, { kind: 'unreadable', reason: 'not valid JSON at byte 1' });
  t.strictSame(compareDigests(encrypted, known({})), { unknown: 'version 2 is encrypted' });
  t.strictSame(compareDigests(known({}), unreadable), { unknown: 'version 3 cannot be read: not valid JSON at byte 1' });
  t.strictSame(compareDigests(encrypted, unreadable), { unknown: 'version 2 is encrypted' });
});

t.test('a repeated address counts once, its first occurrence', async (t) => {
  const digests = digestsOf(1, { kind: 'contents', contents: { resources: 1, instances: [instance('a', 'first'), instance('a', 'second'), instance('b', null)], outputs: [] } });
  t.strictSame(digests, known({ a: 'first', b: null }));
});
