import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { compactJson, findOutput, redactedOutputs, stringText } from '../../src/bodies/output-values.js';
import { outputsDocument, type OutputsRefusal } from '../../src/bodies/outputs-document.js';

type Result = E.Either<OutputsRefusal, Buffer>;

/**
 * Yields `bytes` in chunks of `size` through one buffer it scribbles over once the reader asks
 * for the next: a reader that kept a chunk instead of copying would produce garbage.
 */
async function* reusedChunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(size);
  for (let i = 0; i < bytes.length; i += size) {
    const n = Math.min(size, bytes.length - i);
    buffer.set(bytes.subarray(i, i + n));
    yield buffer.subarray(0, n);
    buffer.fill(0x21);
  }
}

const SIZES = [1, 2, 3, 7, 64, Number.POSITIVE_INFINITY];

const documentOf = (body: string | Buffer, size: number, options?: { maxOutputsBytes?: number }): Promise<Result> => {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return outputsDocument(reusedChunks(bytes, Math.max(1, Math.min(size, bytes.length))), options);
};

/** Comparable form: a document as its exact bytes (latin1 maps each byte to one character). */
const shown = (result: Result) => (E.isRight(result) ? { right: result.right.toString('latin1') } : { left: result.left });

/** The result for the whole body in one chunk, after checking every other chunking gives the same. */
const everyChunking = async (t: Test, body: string | Buffer, options?: { maxOutputsBytes?: number }): Promise<Result> => {
  const whole = await documentOf(body, Number.POSITIVE_INFINITY, options);
  for (const size of SIZES) t.strictSame(shown(await documentOf(body, size, options)), shown(whole), `chunks of ${size}`);
  return whole;
};

const rightOf = (result: Result): Buffer => {
  if (E.isLeft(result)) throw new Error(`refused: ${JSON.stringify(result.left)}`);
  return result.right;
};

/** What a consumer reads: the source's header and outputs, no resources. */
const outputsOnly = (source: string) => {
  const state = JSON.parse(source) as Record<string, unknown>;
  const kept = Object.fromEntries(['version', 'terraform_version', 'serial', 'lineage'].filter((name) => name in state).map((name) => [name, state[name]]));
  return { ...kept, outputs: state.outputs ?? {}, resources: [], check_results: null };
};

// Outputs as Terraform 1.x writes them, plus escapes, an exponent and multi-byte characters that a
// re-serialisation would change: only a byte-for-byte copy keeps them.
const OUTPUTS = `{
    "bucket_arn": {
      "value": "arn:aws:s3:::ledger-st\\u00e4te",
      "type": "string"
    },
    "db_password": {
      "value": "p\\u0026ss\\"w0rd/é",
      "type": "string",
      "sensitive": true
    },
    "endpoints": {
      "value": {
        "eu": "https://eu.example.com",
        "us": "https://us.example.com"
      },
      "type": [
        "object",
        {
          "eu": "string",
          "us": "string"
        }
      ]
    },
    "ratio": {
      "value": 1.50e2,
      "type": "number"
    },
    "rocket": {
      "value": "🚀 \\/ done",
      "type": "string"
    },
    "zones": {
      "value": [
        "eu-west-1a",
        "eu-west-1b"
      ],
      "type": [
        "list",
        "string"
      ]
    }
  }`;

const HEADER = `{
  "version": 4,
  "terraform_version": "1.9.8",
  "serial": 42,
  "lineage": "3f1c2d4e-8a9b-4c0d-9e1f-2a3b4c5d6e7f",
  "outputs": ${OUTPUTS},`;

const TERRAFORM_STATE = `${HEADER}
  "resources": [
    {
      "mode": "data",
      "type": "aws_caller_identity",
      "name": "current",
      "provider": "provider[\\"registry.terraform.io/hashicorp/aws\\"]",
      "instances": [
        {
          "schema_version": 0,
          "attributes": {
            "account_id": "123456789012",
            "outputs": {
              "nested": "a key named outputs below the root is no output"
            }
          },
          "sensitive_attributes": []
        }
      ]
    },
    {
      "mode": "managed",
      "type": "aws_db_instance",
      "name": "main",
      "provider": "provider[\\"registry.terraform.io/hashicorp/aws\\"]",
      "instances": [
        {
          "schema_version": 2,
          "attributes": {
            "identifier": "ledger",
            "password": "p&ss\\"w0rd/é"
          },
          "sensitive_attributes": [
            [
              {
                "type": "get_attr",
                "value": "password"
              }
            ]
          ],
          "private": "eyJzY2hlbWFfdmVyc2lvbiI6IjIifQ==",
          "dependencies": [
            "aws_s3_bucket.state"
          ]
        }
      ]
    }
  ],
  "check_results": [
    {
      "object_kind": "resource",
      "config_addr": "aws_db_instance.main",
      "status": "pass",
      "objects": null
    }
  ]
}
`;

t.test('a Terraform 1.x state keeps its header and outputs byte for byte, and no resources', async (t) => {
  const doc = rightOf(await everyChunking(t, TERRAFORM_STATE));
  t.strictSame(JSON.parse(doc.toString()), outputsOnly(TERRAFORM_STATE));
  const outputs = Buffer.from(OUTPUTS);
  const source = Buffer.from(TERRAFORM_STATE);
  const at = doc.indexOf('"outputs": ') + '"outputs": '.length;
  t.ok(doc.subarray(at, at + outputs.length).equals(source.subarray(source.indexOf(outputs), source.indexOf(outputs) + outputs.length)), 'outputs bytes identical');
  t.strictSame((JSON.parse(doc.toString()) as { outputs: { db_password: unknown } }).outputs.db_password, {
    value: 'p&ss"w0rd/é',
    type: 'string',
    sensitive: true,
  });
  // Written as Terraform indents a state, so the copied outputs sit as they did.
  t.equal(doc.toString(), `${HEADER}\n  "resources": [],\n  "check_results": null\n}\n`);
});

t.test('odd but valid layouts: escaped keys, padding, outputs first, repeated keys', async (t) => {
  const last = '{"a": {"value": "\\"}\\u0022", "type": "string"}}';
  const body = [
    '{"outputs":{"old":{"value":1,"type":"number"}},',
    '"resources":[{"outputs":{"x":1}}] ,',
    ` "outp\\u0075ts" \n:\t  ${last}  ,`,
    '"lineage":"l\\u00e9","serial":7 ,"version":4,"terraform_version":"1.5.7","check_results":[]}',
  ].join('');
  const doc = rightOf(await everyChunking(t, body));
  t.strictSame(JSON.parse(doc.toString()), outputsOnly(body));
  t.ok(doc.includes(`"outputs": ${last},`), 'the last outputs, as written');
  t.ok(doc.includes('"lineage": "l\\u00e9",'), 'header values are copied as written, escapes and all');
});

t.test('members missing from the source are left out; outputs default to {}', async (t) => {
  const noOutputs = '{"version":4,"serial":3,"lineage":"x","resources":[{"a":1}]}';
  t.strictSame(JSON.parse(rightOf(await everyChunking(t, noOutputs)).toString()), { version: 4, serial: 3, lineage: 'x', outputs: {}, resources: [], check_results: null });
  t.strictSame(JSON.parse(rightOf(await everyChunking(t, ' {} ')).toString()), { outputs: {}, resources: [], check_results: null });
  const nullVersion = '{"terraform_version":null,"outputs":{}}';
  t.strictSame(JSON.parse(rightOf(await everyChunking(t, nullVersion)).toString()), { terraform_version: null, outputs: {}, resources: [], check_results: null });
});

t.test('an OpenTofu-encrypted state is refused', async (t) => {
  const encrypted = JSON.stringify({ serial: 2, lineage: 'l', meta: { k: 'v' }, encrypted_data: 'QUJD', encryption_version: 'v0' });
  t.strictSame(await everyChunking(t, encrypted), E.left({ kind: 'encrypted' }));
});

t.test('an encrypted payload or a non-object root is not read on', async (t) => {
  let payloadChunks = 0;
  let closed = false;
  async function* endless(head: string, filler: string) {
    try {
      yield Buffer.from(head);
      for (;;) {
        payloadChunks++;
        yield Buffer.alloc(65536, filler);
      }
    } finally {
      closed = true;
    }
  }
  t.strictSame(await outputsDocument(endless('{"serial":2,"lineage":"l","encrypted_data":"', 'QUJD')), E.left({ kind: 'encrypted' }));
  t.strictSame([payloadChunks, closed], [0, true], 'the source is closed after its first chunk');
  closed = false;
  const result = await outputsDocument(endless('[', '1,'));
  t.match(result, { _tag: 'Left', left: { kind: 'unreadable', reason: /JSON object/ } });
  t.strictSame([payloadChunks, closed], [0, true]);
});

t.test('bodies that are no readable state are refused with a reason', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['', /holds no value/],
    ['{"version":4,', /ends too early/],
    ['{"outputs":{"a":}}', /not valid JSON at byte 16/],
    ['{"outputs":{}} x', /not valid JSON/],
    ['{"outputs":{"a":"\xff"}}', /invalid UTF-8/],
    ['[1,2]', /must be a JSON object/],
    ['"state"', /must be a JSON object/],
    ['{"outputs":[]}', /outputs must be a JSON object, not an array/],
    ['{"outputs":null}', /outputs must be a JSON object, not a null/],
    ['{"outputs":"{}"}', /outputs must be a JSON object, not a string/],
    ['{"outputs":{"a":1},"outputs":7}', /outputs must be a JSON object, not a number/],
    ['{"serial":{"n":1},"outputs":{}}', /serial must be a string or a number/],
    ['{"version":true}', /version must be a string or a number/],
  ];
  for (const [body, reason] of refused) {
    const bytes = Buffer.from(body, body.includes('\xff') ? 'latin1' : 'utf8');
    const result = await everyChunking(t, bytes);
    t.match(result, { _tag: 'Left', left: { kind: 'unreadable', reason } }, body);
  }
});

t.test('outputs over the limit are refused; padding around them does not count', async (t) => {
  const outputs = '{"a":{"value":"0123456789","type":"string"}}';
  const body = (value: string) => `{"version":4,"outputs":${value},"resources":[]}`;
  const limit = outputs.length;
  t.ok(rightOf(await everyChunking(t, body(outputs), { maxOutputsBytes: limit })).includes(outputs), 'exactly at the limit');
  t.strictSame(await everyChunking(t, body(outputs), { maxOutputsBytes: limit - 1 }), E.left({ kind: 'too_large', limit: limit - 1 }));
  const padded = `{"version":4,"outputs"${' '.repeat(500)}:\n${' '.repeat(500)}${outputs}${' '.repeat(500)},"resources":[]}`;
  t.ok(rightOf(await everyChunking(t, padded, { maxOutputsBytes: limit })).includes(outputs), 'whitespace before or after the value is not held');
  // The last outputs counts, whichever was too large.
  const big = '{"b":{"value":"0123456789abcdef","type":"string"}}';
  t.ok(rightOf(await everyChunking(t, `{"outputs":${big},"outputs":${outputs}}`, { maxOutputsBytes: limit })).includes(outputs));
  t.strictSame(await everyChunking(t, `{"outputs":${outputs},"outputs":${big}}`, { maxOutputsBytes: limit }), E.left({ kind: 'too_large', limit }));
  t.strictSame(await everyChunking(t, body('{}'), { maxOutputsBytes: 0 }), E.left({ kind: 'too_large', limit: 0 }));
});

/** A gc() to call between measures: exposed with --expose-gc or, failing that, fetched at run time. */
const collectGarbage = (): (() => void) => {
  if (typeof global.gc === 'function') return global.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
};

const MB = 1024 * 1024;

/**
 * Streams `head`, then fresh copies of `chunk` until `bytes` are out, then `tail`, as a blob store
 * would; `peak` is the most memory (heap and buffers, after a collection) in use meanwhile.
 */
const streamed = (head: string, chunk: Buffer, bytes: number, tail: string) => {
  const gc = collectGarbage();
  const inUse = () => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  gc();
  const probe = { base: inUse(), peak: 0 };
  async function* source() {
    yield Buffer.from(head);
    let count = 0;
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      yield Buffer.from(chunk);
      if (++count % 32 === 0) {
        gc();
        probe.peak = Math.max(probe.peak, inUse() - probe.base);
      }
    }
    yield Buffer.from(tail);
  }
  return { source: source(), probe };
};

t.test('a 50 MB state is read in 64 KiB chunks without being held', async (t) => {
  const resource = JSON.stringify({
    mode: 'managed',
    type: 'aws_s3_object',
    name: 'object',
    provider: 'provider["registry.terraform.io/hashicorp/aws"]',
    instances: [{ index_key: 'k', schema_version: 0, attributes: { key: 'path/to/object', content: 'x'.repeat(600), outputs: { a: 1 } }, sensitive_attributes: [] }],
  });
  const chunk = Buffer.from(`${resource},`.repeat(Math.floor(65536 / (resource.length + 1))));
  const head = `{"version":4,"terraform_version":"1.9.8","serial":9,"lineage":"big","outputs":{"url":{"value":"https://example.com","type":"string"}},"resources":[`;
  const started = Date.now();
  const { source, probe } = streamed(head, chunk, 50 * MB, `${resource}],"check_results":null}`);
  const doc = rightOf(await outputsDocument(source));
  t.strictSame(JSON.parse(doc.toString()), {
    version: 4,
    terraform_version: '1.9.8',
    serial: 9,
    lineage: 'big',
    outputs: { url: { value: 'https://example.com', type: 'string' } },
    resources: [],
    check_results: null,
  });
  t.ok(probe.peak < 16 * MB, `memory grew ${(probe.peak / MB).toFixed(1)} MB for a 50 MB body`);
  t.comment(`50 MB in ${Date.now() - started} ms`);
});

t.test('outputs past the limit are dropped as soon as it is passed', async (t) => {
  // Whole repetitions only, so no chunk ends inside an escape.
  const pattern = 'outputs text, \\"escaped\\", é ';
  const chunk = Buffer.from(pattern.repeat(Math.floor(65536 / Buffer.byteLength(pattern))));
  const big = streamed('{"version":4,"outputs":{"blob":{"value":"', chunk, 30 * MB, '","type":"string"}},"resources":[]}');
  t.strictSame(await outputsDocument(big.source, { maxOutputsBytes: 2 * MB }), E.left({ kind: 'too_large', limit: 2 * MB }));
  t.ok(big.probe.peak < 12 * MB, `memory grew ${(big.probe.peak / MB).toFixed(1)} MB for 30 MB of outputs over a 2 MB limit`);
  // Under the limit, the same outputs spanning many chunks are kept whole.
  const fits = streamed('{"outputs":{"blob":{"value":"', chunk, 4 * MB, '","type":"string"}}}');
  const doc = rightOf(await outputsDocument(fits.source));
  const value = (JSON.parse(doc.toString()) as { outputs: { blob: { value: string } } }).outputs.blob.value;
  const decoded = JSON.parse(`"${chunk.toString()}"`) as string;
  t.ok(value === decoded.repeat(Math.ceil((4 * MB) / chunk.length)), 'the value spans the chunks whole');
});

// ---------------------------------------------------------------------------------------------
// Issue 10, item 3: one output at a time (src/bodies/output-values.ts), on the outputs value as held

/** What redaction must give, from the platform: every sensitive output without `value`. */
const redactedByParse = (outputs: string): unknown => {
  const parsed = JSON.parse(outputs) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(parsed).map(([name, output]) => {
      if (typeof output !== 'object' || output === null || Array.isArray(output)) return [name, output];
      const { sensitive } = output as { sensitive?: unknown };
      if (sensitive === undefined || sensitive === false || sensitive === null) return [name, output];
      return [name, Object.fromEntries(Object.entries(output).filter(([key]) => key !== 'value'))];
    }),
  );
};

t.test('redaction leaves out the value of sensitive outputs, every other byte as written', async (t) => {
  const outputs = `{
    "a": {
      "value": 123456789012345678901234567890,
      "type": "number"
    },
    "b": {
      "value": "secret",
      "type": "string",
      "sensitive": true
    },
    "c": { "type" : "string" , "value" : [1.50, "x"] , "sensitive" : true },
    "d": {"sensitive": true, "type": "string", "value": "last"},
    "e": {"value": "kept", "sensitive": false},
    "f": {"value": "kept too", "sensitive": null},
    "g": {"value": "twice", "\\u0076alue": "escaped key", "sensitive": true, "sensitive": true},
    "h": {"value": "a string sensitive errs on hiding", "sensitive": "yes"},
    "i": 42,
    "j": {"value": "only a value", "sensitive": false, "sensitive": true},
    "k": {"sensitive": true, "value": {"deep": ["value", {"value": 1}]}}
  }`;
  const redacted = redactedOutputs(Buffer.from(outputs)).toString();
  t.strictSame(JSON.parse(redacted), redactedByParse(outputs), 'what JSON.parse reads of it');
  t.strictSame(
    redacted,
    `{
    "a": {
      "value": 123456789012345678901234567890,
      "type": "number"
    },
    "b": {
      "type": "string",
      "sensitive": true
    },
    "c": { "type" : "string", "sensitive" : true },
    "d": {"sensitive": true, "type": "string"},
    "e": {"value": "kept", "sensitive": false},
    "f": {"value": "kept too", "sensitive": null},
    "g": { "sensitive": true, "sensitive": true},
    "h": { "sensitive": "yes"},
    "i": 42,
    "j": { "sensitive": false, "sensitive": true},
    "k": {"sensitive": true}
  }`,
    'byte for byte but the values',
  );
  const plain = Buffer.from('{"x": {"value": 1e400, "type": "number"}}');
  t.equal(redactedOutputs(plain), plain, 'nothing sensitive: the same buffer, not a copy');
  t.equal(redactedOutputs(Buffer.from('{}')).toString(), '{}');
});

t.test('redaction agrees with JSON.parse on generated outputs', async (t) => {
  const output = fc.record(
    { value: fc.jsonValue({ maxDepth: 3 }), type: fc.constantFrom('string', ['list', 'string']), sensitive: fc.constantFrom(true, false, null) },
    { requiredKeys: ['value'] },
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string({ unit: 'binary' }), output, { maxKeys: 6 }), fc.constantFrom(undefined, 1, 2, '\t'), (outputs, indent) => {
      const text = JSON.stringify(outputs, null, indent);
      const redacted = redactedOutputs(Buffer.from(text)).toString();
      return JSON.stringify(JSON.parse(redacted)) === JSON.stringify(redactedByParse(text));
    }),
    { numRuns: 300 },
  );
  t.pass('300 generated outputs');
});

t.test('findOutput: one output by name, as JSON.parse would read it', async (t) => {
  const outputs = Buffer.from(`{
    "api": {"value": "first", "type": "string"},
    "\\u0061pi": {"value": "second, by an escaped name", "type": "string"},
    "big": {"value": -1.234567890123456789012345678901e+300, "type": "number"},
    "secret": {"value": {"k": "v"}, "type": ["map", "string"], "sensitive": true},
    "no value": {"type": "string"},
    "a/b \\"q\\" é": {"value": true},
    "odd": [1, 2],
    "${'n'.repeat(1024)}": {"value": "long name"}
  }`);
  const shown = (name: string) => {
    const found = findOutput(outputs, name);
    if (found === undefined || found.kind !== 'output') return found;
    return { ...found, type: found.type?.toString(), value: found.value?.toString() };
  };
  t.strictSame(shown('api'), { kind: 'output', sensitive: false, type: '"string"', value: '"second, by an escaped name"', valueKind: 'string' }, 'the last one wins');
  t.strictSame(shown('big'), { kind: 'output', sensitive: false, type: '"number"', value: '-1.234567890123456789012345678901e+300', valueKind: 'number' });
  t.strictSame(shown('secret'), { kind: 'output', sensitive: true, type: '["map", "string"]', value: '{"k": "v"}', valueKind: 'object' });
  t.strictSame(shown('no value'), { kind: 'output', sensitive: false, type: '"string"', value: undefined, valueKind: undefined });
  t.strictSame(shown('a/b "q" é'), { kind: 'output', sensitive: false, type: undefined, value: 'true', valueKind: 'boolean' });
  t.strictSame(shown('odd'), { kind: 'not_an_object' });
  t.strictSame(shown('n'.repeat(1024)), { kind: 'output', sensitive: false, type: undefined, value: '"long name"', valueKind: 'string' });
  t.equal(shown('nope'), undefined);
  t.equal(shown('ap'), undefined, 'no prefix match');
  t.equal(shown('API'), undefined, 'names are case-sensitive');
});

t.test('compactJson removes whitespace between tokens only', async (t) => {
  const cases: Array<[string, string]> = [
    ['"a b"', '"a b"'],
    ['123456789012345678901234567890', '123456789012345678901234567890'],
    ['[\n  1.50,\n  "x \\" y",\n  {"k" : [ ]}\n]', '[1.50,"x \\" y",{"k":[]}]'],
    ['{ "\\\\" : "\\\\ " }', '{"\\\\":"\\\\ "}'],
  ];
  for (const [input, expected] of cases) t.strictSame(compactJson(Buffer.from(input)).toString(), expected, input);
  const already = Buffer.from('{"a":[1,2]}');
  t.equal(compactJson(already), already, 'nothing to remove: the same buffer');
  fc.assert(
    fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2, '\t'), (value, indent) => {
      const written = JSON.stringify(value, null, indent) ?? 'null';
      return compactJson(Buffer.from(written)).toString() === (JSON.stringify(value) ?? 'null');
    }),
    { numRuns: 300 },
  );
});

t.test('stringText decodes a JSON string to UTF-8 as JSON.parse and Buffer.from do', async (t) => {
  t.strictSame(stringText(Buffer.from('"plain é"')).toString(), 'plain é');
  t.strictSame(stringText(Buffer.from('"\\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"')).toString(), '"q" \\ / \b\f\n\r\t é 😀');
  t.strictSame(stringText(Buffer.from('"\\ud800x\\udc00"')), Buffer.from('\ufffdx\ufffd'), 'lone surrogates become U+FFFD');
  t.strictSame(stringText(Buffer.from('"\\ud83d\\u0041"')), Buffer.from('\ufffdA'), 'a high surrogate before another escape');
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.boolean(), (text, escapeAll) => {
      const json = escapeAll ? `"${Array.from({ length: text.length }, (_, i) => `\\u${text.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(text);
      return stringText(Buffer.from(json)).equals(Buffer.from(JSON.parse(json) as string));
    }),
    { numRuns: 500 },
  );
});
