import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as E from 'fp-ts/lib/Either.js';
import t, { type Test } from 'tap';
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
