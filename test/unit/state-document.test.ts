import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { StateDocumentInspector } from '../../src/bodies/state-document.js';

/** Feeds the document in chunks of `chunkSize` bytes (all at once by default), as a request body arrives. */
const inspect = (body: string | Buffer, chunkSize = body.length || 1) => {
  const inspector = new StateDocumentInspector();
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  for (let i = 0; i < bytes.length; i += chunkSize) inspector.write(bytes.subarray(i, i + chunkSize));
  return inspector.finish();
};

const summary = (fields: { serial?: number; lineage?: string; terraformVersion?: string | null; resourceCount?: number; outputCount?: number } = {}) => ({
  serial: 1,
  lineage: 'x',
  terraformVersion: null,
  encrypted: false,
  resourceCount: 0,
  outputCount: 0,
  ...fields,
});

/** A plain state around `rest` (more members, written as they are). */
const stateWith = (rest: string) => `{"version":4,"serial":1,"lineage":"x",${rest}}`;

const plain = JSON.stringify({ version: 4, terraform_version: '1.9.8', serial: 12, lineage: 'lin-1', resources: [] });

t.test('a plain state is summarised whatever the chunking', async (t) => {
  for (const size of [1, 2, 3, 7, 64, plain.length]) {
    t.strictSame(inspect(`${plain}\n`, size), summary({ serial: 12, lineage: 'lin-1', terraformVersion: '1.9.8' }), `chunks of ${size}`);
  }
});

t.test('an OpenTofu-encrypted state is recognised without parsing its payload', async (t) => {
  const doc = JSON.stringify({ serial: 2, lineage: 'l', meta: { k: 'v' }, encrypted_data: 'QUJD', encryption_version: 'v0' });
  t.strictSame(inspect(doc, 5), { serial: 2, lineage: 'l', terraformVersion: null, encrypted: true, resourceCount: null, outputCount: null });
});

t.test('resources and outputs are counted as written, in arrays or objects', async (t) => {
  const doc = stateWith('"resources":[{"a":[1,2,3]},[],"s",null],"outputs":{"a":{"value":{"b":1}},"c":{}}');
  t.strictSame(inspect(doc, 3), summary({ resourceCount: 4, outputCount: 2 }));
  t.strictSame(inspect(stateWith('"resources":{"a":1,"b":[]},"outputs":"none"')), summary({ resourceCount: 2, outputCount: 0 }));
});

t.test('anything else is refused with a reason', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['[1,2]', /JSON object/],
    ['"state"', /JSON object/],
    ['{"version":4,"serial":1', /ends too early/],
    ['{"version":4,"serial":1,"lineage":"x"} {}', /not valid JSON/],
    ['{"version":4,"serial":1,"lineage":"x",}', /not valid JSON/],
    ['{"version":4,"serial":-1,"lineage":"x"}', /serial/],
    ['{"version":4,"serial":1.5,"lineage":"x"}', /serial/],
    ['{"version":4,"serial":1}', /lineage/],
    ['{"serial":1,"lineage":"x"}', /version/],
    ['{"serial":1,"lineage":"x","encryption_version":"v0"}', /encrypted_data/],
    ['{"serial":1,"lineage":"x","encryption_version":"v0","encrypted_data":{}}', /encrypted_data/],
    ['{"serial":1,"lineage":"x","encryption_version":4,"encrypted_data":"QUJD"}', /encryption_version must be a string/],
    ['{"hello":"world"}', /serial/],
    ['   ', /holds no value/],
    [stateWith('"terraform_version":1'), /terraform_version must be a string/],
    ['{"version":4,"serial":1,"lineage":"a\\u0000b"}', /NUL or unpaired surrogates/],
    ['{"version":4,"serial":1,"lineage":"\\ud800"}', /NUL or unpaired surrogates/],
    ['{"version":4,"serial":9007199254740992,"lineage":"x"}', /serial must be a non-negative integer/],
    ['{"version":4,"serial":1e400,"lineage":"x"}', /serial must be a non-negative integer/],
  ];
  for (const [doc, reason] of refused) {
    const result = inspect(doc);
    t.type(result, 'string', doc);
    t.match(result, reason, doc);
  }
});

t.test('a JSON error is one sentence with the byte offset', async (t) => {
  const cases: Array<[string, string]> = [
    ['{"version":\t"a\u0001"}', 'not valid JSON at byte 14: a string may not contain a raw control character'],
    ['{"version":}', 'not valid JSON at byte 11: expected a value'],
    ['{"version":4', 'not valid JSON at byte 12: the document ends too early'],
    ['{"version":01}', 'not valid JSON at byte 12: a number may not start with 0 followed by more digits'],
    ['{"version":-}', "not valid JSON at byte 12: expected a digit after '-'"],
    ['{"version":1.}', "not valid JSON at byte 13: expected a digit after '.'"],
    ['{"version":1e}', 'not valid JSON at byte 13: expected a digit in the exponent'],
    ['{"version":tru}', 'not valid JSON at byte 14: expected the literal true'],
    ['{"version":"\\x"}', 'not valid JSON at byte 13: invalid escape sequence in a string'],
    ['{"version":"\\u12g4"}', 'not valid JSON at byte 16: \\u must be followed by four hex digits'],
    ['{"version" 4}', "not valid JSON at byte 11: expected ':' after a key"],
    ['{"a":1 "b":2}', "not valid JSON at byte 7: expected ',' or '}'"],
    ['{"a":[1 2]}', "not valid JSON at byte 8: expected ',' or ']'"],
    ['{"a":1,}', 'not valid JSON at byte 7: expected a string key'],
    ['{1:2}', "not valid JSON at byte 1: expected a string key or '}'"],
    ['{"a":1}x', 'not valid JSON at byte 7: unexpected data after the end of the document'],
    ['{"a":1}\u000b', 'not valid JSON at byte 7: unexpected data after the end of the document'],
  ];
  for (const [doc, reason] of cases) t.strictSame(inspect(doc), reason, doc);
});

t.test('serial and version are digits only, as Terraform and OpenTofu read them (unsigned integers)', async (t) => {
  for (const written of ['1e2', '1E+2', '1.0', '2500e-2', '-0', '0.0e5', '-1', '1.5', '9007199254740992', '"1"']) {
    t.match(inspect(`{"version":4,"serial":${written},"lineage":"x"}`, 2), /^serial must be a non-negative integer up to 9007199254740991, written with digits only$/, `serial ${written}`);
  }
  for (const written of ['4.5', '-1', '1e400', '4.0', '-0']) {
    t.match(inspect(`{"version":${written},"serial":1,"lineage":"x"}`, 2), /^version \(the state format version\) must be a non-negative integer, written with digits only$/, `version ${written}`);
  }
  t.strictSame(inspect('{"version":4,"serial":9007199254740991,"lineage":"x"}', 3), summary({ serial: 9007199254740991 }));
  t.strictSame(inspect('{"version":4,"serial":0,"lineage":"x"}', 3), summary({ serial: 0 }));
});

t.test('nesting is accepted up to 1000 levels, the root object being the first', async (t) => {
  // The root object and `resources` are two levels, so n more arrays make n + 2.
  const nested = (levels: number, open = '[', close = ']', inner = '') =>
    stateWith(`"resources":[${open.repeat(levels - 2)}${inner}${close.repeat(levels - 2)}]`);
  t.strictSame(inspect(nested(1000)), summary({ resourceCount: 1 }));
  t.strictSame(inspect(nested(1000, '{"a":', '}', '0')), summary({ resourceCount: 1 }));
  t.match(inspect(nested(1001)), /^the document is nested more than 1000 levels deep at byte \d+$/);
  t.match(inspect(nested(1001, '{"a":', '}', '0'), 7), /nested more than 1000 levels deep/);
  t.match(inspect('['.repeat(100_000)), /JSON object/);
});

t.test('kept fields are capped as written, and a longer one is refused with a sentence', async (t) => {
  const at = (n: number, unit = 'a') => unit.repeat(n);
  t.strictSame(inspect(`{"version":4,"serial":1,"lineage":"${at(256)}"}`, 100), summary({ lineage: at(256) }));
  t.strictSame(inspect(`{"version":4,"serial":1,"lineage":"${at(257)}"}`, 100), 'lineage must be a string of at most 256 bytes');
  t.strictSame(inspect(`{"version":4,"serial":1,"lineage":"${at(1024 * 1024)}"}`, 65536), 'lineage must be a string of at most 256 bytes');
  // 43 escapes are 258 bytes as written, for 43 characters.
  t.strictSame(inspect(`{"version":4,"serial":1,"lineage":"${at(43, '\\u0041')}"}`), 'lineage must be a string of at most 256 bytes');
  t.strictSame(inspect(stateWith(`"terraform_version":"${at(300)}"`)), 'terraform_version must be a string of at most 256 bytes');
  t.strictSame(
    inspect(`{"serial":1,"lineage":"x","encrypted_data":"","encryption_version":"${at(257)}"}`),
    'encryption_version must be a string of at most 256 bytes',
  );
  t.strictSame(inspect(`{"version":4,"serial":${at(32, '1')},"lineage":"x"}`), 'serial must be a non-negative integer up to 9007199254740991, written with digits only');
  t.strictSame(inspect(`{"version":4,"serial":1.${at(31, '0')},"lineage":"x"}`), 'serial must be a non-negative integer up to 9007199254740991, written with digits only');
  t.strictSame(inspect(`{"version":${at(1000, '4')},"serial":1,"lineage":"x"}`), 'version (the state format version) must be a non-negative integer, written with digits only');
  // Fields only typed are never kept, so their size does not matter.
  t.strictSame(inspect(stateWith(`"outputs":{"${at(100_000)}":"${at(100_000)}"}`), 1000), summary({ outputCount: 1 }));
});

t.test('UTF-8 is checked byte by byte, however deep and however split', async (t) => {
  const deepString = (bytes: number[]) =>
    Buffer.concat([Buffer.from(`{"version":4,"serial":1,"lineage":"x","resources":${'['.repeat(500)}"ok `), Buffer.from(bytes), Buffer.from(`"${']'.repeat(500)}}`)]);
  const valid = [[0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80], [0xf0, 0x9f, 0x98, 0x80], [0xf4, 0x8f, 0xbf, 0xbf]];
  const invalid = [
    [0x80], // a continuation byte alone
    [0xc0, 0xaf], // overlong '/'
    [0xc1, 0xbf],
    [0xe0, 0x80, 0xaf], // overlong three-byte
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xed, 0xbf, 0xbf],
    [0xf0, 0x80, 0x80, 0xaf], // overlong four-byte
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xf5, 0x80, 0x80, 0x80],
    [0xff],
    [0xe2, 0x82], // truncated before the closing quote
    [0xf0, 0x9f, 0x98],
    [0xc3, 0x41],
  ];
  for (const size of [1, 2, 3, 5, 4096]) {
    for (const bytes of valid) t.strictSame(inspect(deepString(bytes), size), summary({ resourceCount: 1 }), `${Buffer.from(bytes).toString('hex')} in ${size}`);
    for (const bytes of invalid) t.match(inspect(deepString(bytes), size), /^not valid JSON at byte \d+: invalid UTF-8$/, `${Buffer.from(bytes).toString('hex')} in ${size}`);
  }
  t.match(inspect(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(plain)])), /^not valid JSON at byte 0: a byte order mark may not start the document$/);
  t.match(inspect(Buffer.from([...Buffer.from(plain.slice(0, -1)), 0xc3, 0xa9, 0x7d])), /^not valid JSON at byte \d+: expected ',' or '}', not a non-ASCII byte$/);
});

t.test('escapes and multi-byte characters may straddle any chunk edge', async (t) => {
  const lineage = 'é€😀 "q" \\ / \b\f\n\r\t \u0001 \ud83d\ude00 ÿ';
  const escaped = '"\\u00e9\\u20AC\\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0001 😀 ÿ"';
  const doc = `{ "version" : 4 ,\r\n\t"serial" : 3 , "lineage" : ${escaped}, "terraform_version": ${JSON.stringify(lineage)} }`;
  for (let size = 1; size <= 12; size++) {
    t.strictSame(inspect(doc, size), summary({ serial: 3, lineage: 'é€😀 "q" \\ / \b\f\n\r\t \u0001 😀 ÿ', terraformVersion: lineage }), `chunks of ${size}`);
  }
});

t.test('a top-level key written with escapes is the same key', async (t) => {
  t.strictSame(inspect('{"v\\u0065rsion":4,"\\u0073\\u0065\\u0072\\u0069\\u0061\\u006c":5,"lineage":"x"}', 4), summary({ serial: 5 }));
  // Fully escaped, "encryption_version" is 110 bytes as written: still recognised.
  const escapedKey = [...'encryption_version'].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  t.strictSame(inspect(`{"serial":1,"lineage":"x","encrypted_data":"","${escapedKey}":"v0"}`), {
    serial: 1,
    lineage: 'x',
    terraformVersion: null,
    encrypted: true,
    resourceCount: null,
    outputCount: null,
  });
});

t.test('when a top-level key repeats the last occurrence wins, as with JSON.parse', async (t) => {
  t.strictSame(inspect(stateWith('"serial":2,"resources":[1,2],"outputs":{"a":1},"resources":"none","outputs":{"a":1,"b":2}')), summary({ serial: 2, outputCount: 2 }));
  t.strictSame(inspect(stateWith('"lineage":5')), 'lineage must be a string');
  t.strictSame(inspect(`{"lineage":"${'a'.repeat(300)}","version":4,"serial":1,"lineage":"y"}`), summary({ lineage: 'y' }));
  t.strictSame(inspect(stateWith('"version":"4"')), 'a state needs a numeric version (its format version)');
  // Keys nested deeper are not top-level fields.
  t.strictSame(inspect(stateWith('"outputs":{"serial":{"serial":9}}')), summary({ outputCount: 1 }));
});

t.test('long strings are checked at every position and alignment', async (t) => {
  // Long enough for the word-at-a-time path; the special byte moves across every word position.
  for (let offset = 0; offset < 4; offset++) {
    for (let at = 0; at < 200; at += 7) {
      for (const [special, verdict] of [
        ['"', /expected ',' or '}'/],
        ['\\', /invalid escape/],
        ['\u0001', /control character/],
        ['\u007f', null],
        ['é', null],
      ] as const) {
        const text = `${'A'.repeat(at)}${special}${'B'.repeat(300 - at)}`;
        const doc = Buffer.from(`${' '.repeat(offset)}${stateWith(`"outputs":{"o":"${text}"}`)}`);
        // Copied into a larger buffer at an odd offset so words are not aligned with the chunk start.
        const backing = Buffer.alloc(doc.length + 8);
        doc.copy(backing, 3);
        const result = inspect(backing.subarray(3, 3 + doc.length), 128 + offset);
        if (verdict === null) t.strictSame(result, summary({ outputCount: 1 }), `${JSON.stringify(special)} at ${at}`);
        else t.match(result, verdict, `${JSON.stringify(special)} at ${at}`);
      }
    }
  }
});

t.test('huge strings and payloads pass in 64 KiB chunks', async (t) => {
  const payload = Buffer.alloc(20 * 1024 * 1024, 'QUJDRA==');
  const encrypted = Buffer.concat([Buffer.from('{"serial":9,"lineage":"l","encrypted_data":"'), payload, Buffer.from('","encryption_version":"v0"}')]);
  t.strictSame(inspect(encrypted, 65536), { serial: 9, lineage: 'l', terraformVersion: null, encrypted: true, resourceCount: null, outputCount: null });
  const text = Buffer.alloc(20 * 1024 * 1024, 'plain text, \\"escapes\\", \\u00e9 and é; ');
  const plainWithString = Buffer.concat([Buffer.from(stateWith('"outputs":{"big":{"value":"')), text, Buffer.from('"}}}')]);
  t.strictSame(inspect(plainWithString, 65536), summary({ outputCount: 1 }));
});

/** A gc() to call between measures: exposed with --expose-gc or, failing that, fetched at run time. */
const collectGarbage = (): (() => void) => {
  if (typeof global.gc === 'function') return global.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
};

/**
 * Heap growth while `feed` writes `bytes` of chunks into an inspector, and the inspector's verdict.
 * A first, smaller feed lets the JIT settle: its compiled code lives on the heap too.
 */
const heapGrowth = (feed: (inspector: StateDocumentInspector, bytes: number) => void, bytes: number) => {
  feed(new StateDocumentInspector(), bytes / 50);
  const gc = collectGarbage();
  gc();
  const before = process.memoryUsage().heapUsed;
  const inspector = new StateDocumentInspector();
  feed(inspector, bytes);
  // Measured before any collection: whatever the scan allocated is still counted.
  const growth = process.memoryUsage().heapUsed - before;
  return { growth, result: inspector.finish() };
};

t.test('memory stays flat whatever the shape (50 MB in 64 KiB chunks)', async (t) => {
  const MB = 1024 * 1024;
  // Chunks that are whole repetitions of the pattern, reused so the test itself holds no 50 MB.
  const repeated = (pattern: string) => Buffer.alloc(Math.floor(65536 / pattern.length) * pattern.length, pattern);
  const feeder = (head: string, pattern: string, tail: string) => {
    const chunk = repeated(pattern);
    return (inspector: StateDocumentInspector, bytes: number) => {
      inspector.write(Buffer.from(head));
      for (let fed = 0; fed < bytes; fed += chunk.length) inspector.write(chunk);
      inspector.write(Buffer.from(tail));
    };
  };

  const tinyObjects = heapGrowth(feeder('{"serial":1,"lineage":"x","version":[', '{},', '{}]}'), 50 * MB);
  t.strictSame(tinyObjects.result, 'a state needs a numeric version (its format version)');
  t.ok(tinyObjects.growth < 4 * MB, `heap grew ${(tinyObjects.growth / MB).toFixed(1)} MB for 50 MB of {}`);

  const hugeString = heapGrowth(feeder('{"serial":1,"lineage":"x","version":4,"outputs":{"o":"', 'abcdefgh', '"}}'), 50 * MB);
  t.strictSame(hugeString.result, summary({ outputCount: 1 }));
  t.ok(hugeString.growth < 4 * MB, `heap grew ${(hugeString.growth / MB).toFixed(1)} MB for a 50 MB string`);

  const manyMembers = heapGrowth(feeder('{"version":4,"lineage":"x",', '"serial":1,"k":[],', '"serial":7}'), 50 * MB);
  t.strictSame(manyMembers.result, summary({ serial: 7 }));
  t.ok(manyMembers.growth < 4 * MB, `heap grew ${(manyMembers.growth / MB).toFixed(1)} MB for 50 MB of top-level members`);
});
