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
