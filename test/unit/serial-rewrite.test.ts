import { Readable } from 'node:stream';
import t from 'tap';
import { locateSerial, spliceSerial } from '../../src/bodies/serial-rewrite.js';

const chunked = (text: string, size: number) => {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
};

const drain = async (stream: Readable) => {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts).toString();
};

t.test('replaces only the top-level serial, byte for byte elsewhere, whatever the chunking', async (t) => {
  // A nested "serial" and multi-byte characters before the real one must not confuse the offsets.
  const doc = '{"version":4,"é":"ü","outputs":{"serial":{"value":99}},"serial":  17 ,"lineage":"x"}\n';
  for (const size of [1, 2, 5, 64, doc.length]) {
    const location = await locateSerial(chunked(doc, size));
    t.ok(location, `chunks of ${size}`);
    if (location === undefined) continue;
    t.equal(await drain(spliceSerial(chunked(doc, size), location, 12345)), doc.replace('  17 ', '  12345 '));
  }
});

t.test('a document without a top-level serial has none to locate', async (t) => {
  t.equal(await locateSerial(chunked('{"outputs":{"serial":1}}', 4)), undefined);
});

t.test('the last top-level serial counts, as at the push; a huge string before it costs no memory', async (t) => {
  const doc = '{"serial":1,"version":4,"serial":22,"lineage":"x"}';
  const location = await locateSerial(chunked(doc, 3));
  t.strictSame(location, { offset: doc.indexOf('22'), length: 2 });
  const huge = Buffer.concat([Buffer.from('{"version":4,"outputs":{"o":{"value":"'), Buffer.alloc(64 << 20, 0x61), Buffer.from('"}},"serial":7,"lineage":"x"}')]);
  const before = process.memoryUsage().heapUsed;
  const found = await locateSerial(Readable.from((function* () {
    for (let i = 0; i < huge.length; i += 1 << 16) yield huge.subarray(i, i + (1 << 16));
  })()));
  t.strictSame(found, { offset: huge.lastIndexOf(`"serial":7`) + 9, length: 1 });
  t.ok(process.memoryUsage().heapUsed - before < 16 << 20, 'no string of 64 MB was built');
});
