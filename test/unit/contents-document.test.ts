import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { readStateContents, type ContentsReading } from '../../src/bodies/contents-document.js';
import { encryptedDocument } from '../support/go-client.js';
import { richInstances, richOutputs, richState } from '../support/contents-states.js';

async function* inChunks(bytes: Buffer, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const size = Math.max(1, sizes.length === 0 ? bytes.length : sizes[i++ % sizes.length]!);
    // Each chunk in a buffer of its own, as a stream gives them.
    yield Uint8Array.from(bytes.subarray(at, at + size));
    at += size;
  }
}

const read = (bytes: Buffer, sizes: readonly number[] = []) => readStateContents(inChunks(bytes, sizes));

/** The digest of attributes written as `text` with no whitespace between tokens. */
const digestOf = (text: string) => createHash('sha256').update(text).digest().subarray(0, 16).toString('base64url');
/** The attributes of each instance of a document, in order. */
const attributesIn = (doc: Buffer): unknown[] =>
  (JSON.parse(doc.toString()) as { resources: Array<{ instances: Array<{ attributes: unknown }> }> }).resources.flatMap((r) => r.instances.map((i) => i.attributes));

t.test('a Terraform-like state: count and for_each instances, modules, a data source, outputs', async (t) => {
  const doc = richState(7);
  const attributes = attributesIn(doc);
  const instances = richInstances().map((instance, n) => ({ ...instance, attributesDigest: digestOf(JSON.stringify(attributes[n])) }));
  const expected: ContentsReading = { kind: 'contents', contents: { resources: 5, instances, outputs: richOutputs } };
  t.strictSame(await read(doc), expected, 'whole');
  for (const size of [1, 2, 3, 7, 64]) t.strictSame(await read(doc, [size]), expected, `in chunks of ${size} bytes`);
});

t.test('encrypted, unreadable and odd documents', async (t) => {
  t.strictSame(await read(encryptedDocument(3)), { kind: 'encrypted' });
  t.strictSame(await read(Buffer.from('{"version": 4, "resources": [')), { kind: 'unreadable', reason: 'not valid JSON at byte 29: the document ends too early' });
  t.strictSame(await read(Buffer.from('[1, 2]')), { kind: 'unreadable', reason: 'the state is not a JSON object' });
  t.strictSame(await read(Buffer.from('{"resources": [{"mode": "managed", "name": "x", "provider": "p", "instances": []}]}')), {
    kind: 'unreadable',
    reason: 'resource 1 has no type as a string of at most 4096 bytes',
  });
  t.strictSame(await read(Buffer.from('{"resources": [{"mode": "managed", "type": 5, "name": "x", "provider": "p"}]}')), {
    kind: 'unreadable',
    reason: 'resource 1 has no type as a string of at most 4096 bytes',
  });
  t.strictSame(await read(Buffer.from('{}')), { kind: 'contents', contents: { resources: 0, instances: [], outputs: [] } });
  // Keys written with escapes, a repeated `resources` (the last wins, as in JSON.parse), ids of other kinds.
  const odd = Buffer.from(
    '{"resources": [{"mode": "managed", "type": "a", "name": "gone", "provider": "p", "instances": [{"attributes": {"id": "x"}}]}],' +
      ' "\\u0072esources": [{"mode": "managed", "type": "t", "name": "n", "provider": "p", "instances": [' +
      '{"attributes": {"\\u0069d": 42}}, {"attributes": {"id": null}}, {"attributes": {"id": {"nested": "i-0"}}}, {"attributes": {"id": "' + 'x'.repeat(5000) + '"}}]}],' +
      ' "outputs": {"o": {"value": {"type": "fake"}, "type": ["map", "string"]}, "s": {"sensitive": true, "type": "string", "value": "v"}}}',
  );
  const n = { mode: 'managed', type: 't', name: 'n', module: '', provider: 'p', indexKey: null, address: 't.n', resourceAddress: 't.n' };
  const expected: ContentsReading = {
    kind: 'contents',
    contents: {
      resources: 1,
      instances: [
        { address: 't.n', resourceAddress: 't.n', mode: 'managed', type: 't', name: 'n', module: '', provider: 'p', indexKey: null, id: '42', attributes: '{"\\u0069d":42}' },
        { ...n, id: null, attributes: '{"id":null}' },
        { ...n, id: null, attributes: '{"id":{"nested":"i-0"}}' },
        { ...n, id: null, attributes: `{"id":"${'x'.repeat(5000)}"}` },
      ].map((i) => ({
        address: i.address,
        resourceAddress: i.resourceAddress,
        mode: i.mode,
        type: i.type,
        name: i.name,
        module: i.module,
        provider: i.provider,
        indexKey: i.indexKey,
        id: i.id,
        attributesDigest: digestOf(i.attributes),
      })),
      outputs: [
        { name: 'o', type: ['map', 'string'], sensitive: false },
        { name: 's', type: 'string', sensitive: true },
      ],
    },
  };
  t.strictSame(await read(odd), expected);
  t.strictSame(await read(odd, [3, 1, 5]), expected, 'in chunks');
});

t.test('bounded memory: a 200 MB attribute is skipped, never held', async (t) => {
  const head = Buffer.from('{"version": 4, "serial": 1, "lineage": "l", "resources": [{"mode": "managed", "type": "t", "name": "big", "provider": "p", "instances": [{"attributes": {"blob": "');
  const tail = Buffer.from('", "id": "after-the-blob"}}]}], "outputs": {}}');
  const block = Buffer.alloc(1024 * 1024, `${'x'.repeat(58)}ab\\"cd`); // 64 bytes with an escaped quote, whole in every block
  const blocks = 200;
  async function* body(): AsyncGenerator<Uint8Array> {
    yield head;
    for (let i = 0; i < blocks; i++) yield block;
    yield tail;
  }
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  const started = Date.now();
  const reading = await readStateContents(body());
  clearInterval(sampler);
  t.strictSame(reading.kind === 'contents' ? reading.contents.instances.map((i) => i.id) : reading, ['after-the-blob']);
  t.ok(peak - before < 32 * 1024 * 1024, `heap grew ${Math.round((peak - before) / 1024 / 1024)} MiB reading 200 MiB`);
  t.comment(`200 MiB in ${Date.now() - started} ms`);
});

// The index as JSON.parse sees the same document: what the streaming reader must agree with.
interface Doc {
  resources?: unknown;
  outputs?: unknown;
}
const reference = (doc: Doc) => {
  const instances: unknown[] = [];
  const resources = Array.isArray(doc.resources) ? (doc.resources as Array<Record<string, unknown>>) : [];
  for (const r of resources) {
    const module = (r.module as string | undefined) ?? '';
    const resourceAddress = `${module === '' ? '' : `${module}.`}${r.mode === 'data' ? 'data.' : ''}${String(r.type)}.${String(r.name)}`;
    for (const i of (r.instances as Array<Record<string, unknown>>) ?? []) {
      const key = i.index_key as string | number | undefined;
      const id = (i.attributes as Record<string, unknown> | undefined)?.id;
      instances.push({
        address: key === undefined ? resourceAddress : `${resourceAddress}[${JSON.stringify(key)}]`,
        resourceAddress,
        mode: r.mode,
        type: r.type,
        name: r.name,
        module,
        provider: r.provider,
        indexKey: key ?? null,
        id: typeof id === 'string' ? id : typeof id === 'number' ? String(id) : null,
        attributesDigest: digestOf(JSON.stringify(i.attributes)),
      });
    }
  }
  const outputs = Object.entries((doc.outputs as Record<string, Record<string, unknown>>) ?? {})
    .map(([name, o]) => ({ name, type: o.type ?? null, sensitive: o.sensitive === true }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { resources: resources.length, instances, outputs };
};

const text = fc.string({ unit: fc.oneof({ weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) }, fc.constantFrom('"', '\\', 'é', '😀', '\n', '/')), maxLength: 12 });
const junk = fc.jsonValue({ maxDepth: 3 });
const instance = fc.record(
  {
    index_key: fc.oneof(fc.nat({ max: 2000 }), text),
    schema_version: fc.nat({ max: 3 }),
    attributes: fc.record({ id: fc.oneof(text, fc.integer()), other: junk, nested: fc.dictionary(text, junk, { maxKeys: 3 }) }, { requiredKeys: [] }),
    dependencies: fc.array(text, { maxLength: 2 }),
  },
  { requiredKeys: ['attributes'] },
);
const resource = fc.record(
  {
    module: fc.constantFrom('module.a', 'module.b["x"]', 'module.a.module.c[0]'),
    mode: fc.constantFrom('managed', 'data'),
    type: fc.constantFrom('aws_s3_bucket', 'aws_instance', 'terraform_data'),
    name: text,
    provider: fc.constantFrom('provider["registry.terraform.io/hashicorp/aws"]', 'provider["terraform.io/builtin/terraform"]'),
    each: fc.constantFrom('list', 'map'),
    instances: fc.array(instance, { maxLength: 4 }),
  },
  { requiredKeys: ['mode', 'type', 'name', 'provider', 'instances'] },
);
const output = fc.record({ value: junk, type: fc.oneof(fc.constant('string'), fc.constant(['list', 'string']), junk), sensitive: fc.boolean() }, { requiredKeys: ['value'] });
const state = fc.record({
  version: fc.constant(4),
  serial: fc.nat(),
  lineage: text,
  outputs: fc.dictionary(text.filter((s) => !/^\d+$/.test(s)), output, { maxKeys: 4 }),
  resources: fc.array(resource, { maxLength: 5 }),
  check_results: fc.constant(null),
});

t.test('agrees with JSON.parse on generated states, written in any layout and fed in any chunks', async (t) => {
  await fc.assert(
    fc.asyncProperty(state, fc.boolean(), fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 5 }), async (doc, pretty, sizes) => {
      const bytes = Buffer.from(JSON.stringify(doc, null, pretty ? 2 : undefined));
      const reading = await read(bytes, sizes);
      if (reading.kind !== 'contents') throw new Error(`not read: ${JSON.stringify(reading)}`);
      const sorted = { ...reading.contents, outputs: [...reading.contents.outputs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
      t.strictSame(sorted, reference(JSON.parse(bytes.toString()) as Doc));
      return true;
    }),
    { numRuns: 300 },
  );
});

t.test('the attributes digest: the same for the same attributes however indented, another when one changes, null when not an object', async (t) => {
  const instance = (attributes: string) =>
    Buffer.from(`{"resources": [{"mode": "managed", "type": "t", "name": "n", "provider": "p", "instances": [{"schema_version": 0, ${attributes}}]}]}`);
  const digest = async (bytes: Buffer, sizes: readonly number[] = []) => {
    const reading = await read(bytes, sizes);
    return reading.kind === 'contents' ? reading.contents.instances.map((i) => i.attributesDigest) : [reading.kind];
  };
  const compact = await digest(instance('"attributes": {"id":"a","tags":{"k":"v w"},"n":[1,2.5e3,true,null]}'));
  t.strictSame(compact, [digestOf('{"id":"a","tags":{"k":"v w"},"n":[1,2.5e3,true,null]}')]);
  const indented = instance('"attributes": {\n  "id" : "a",\n  "tags": { "k": "v w" },\n  "n": [ 1, 2.5e3, true, null ]\n}');
  for (const sizes of [[], [1], [2, 5]]) t.strictSame(await digest(indented, sizes), compact, `indented, in chunks of ${sizes.join(',') || 'all'}`);
  t.not((await digest(instance('"attributes": {"id":"a","tags":{"k":"v  w"},"n":[1,2.5e3,true,null]}')))[0], compact[0], 'a space inside a string is a change');
  t.not((await digest(instance('"attributes": {"id":"b","tags":{"k":"v w"},"n":[1,2.5e3,true,null]}')))[0], compact[0]);
  t.strictSame(await digest(instance('"attributes": ["id", "a"]')), [null], 'an array is not attributes');
  t.strictSame(await digest(instance('"private": "eyJ9"')), [null], 'none at all');
  t.strictSame(await digest(instance('"attributes": {"id": "x"}, "attributes": {"id":"a","tags":{"k":"v w"},"n":[1,2.5e3,true,null]}')), compact, 'a repeated key: the last wins, as in JSON.parse');
});
