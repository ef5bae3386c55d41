import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { JsonScanner, type JsonKind, type RawBytes, type RootMember } from '../../src/bodies/json-scanner.js';
import { StateDocumentInspector, type StateSummary } from '../../src/bodies/state-document.js';
import { isStorable } from '../../src/events/storable-string.js';

/**
 * The scanner and the inspector against a reference built from the platform: a strict UTF-8
 * decode (a leading BOM refused), JSON.parse, a depth count, then the state rules applied to the
 * parsed value. Documents are generated, written in varied ways, damaged, and fed in random chunks.
 */

const MAX_DEPTH = 1000;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Parsed = { readonly valid: true; readonly value: unknown } | { readonly valid: false };

const depthOf = (root: unknown): number => {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[root, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth] = next;
    if (typeof value !== 'object' || value === null) continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(value)) pending.push([child, depth + 1]);
  }
  return deepest;
};

const referenceParse = (bytes: Uint8Array): Parsed => {
  let value: unknown;
  try {
    const text = strictUtf8.decode(bytes);
    if (text.startsWith('\ufeff')) return { valid: false };
    value = JSON.parse(text);
  } catch {
    return { valid: false };
  }
  return depthOf(value) > MAX_DEPTH ? { valid: false } : { valid: true, value };
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * How the top-level numbers of a valid document were written: every number token (outside
 * strings) turned into a marked string holding its text, then parsed again.
 */
const NUMBER_MARK = '\u0000number:';
const TOKENS = /"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/g;
const writtenNumbers = (bytes: Uint8Array): Record<string, unknown> => {
  const text = strictUtf8.decode(bytes).replace(TOKENS, (token) => (token.startsWith('"') ? token : JSON.stringify(`${NUMBER_MARK}${token}`)));
  return JSON.parse(text) as Record<string, unknown>;
};
/** Terraform reads serial and version as unsigned integers: digits only. */
const writtenWithDigits = (written: unknown): boolean =>
  typeof written === 'string' && written.startsWith(NUMBER_MARK) && /^(0|[1-9][0-9]*)$/.test(written.slice(NUMBER_MARK.length));

/** The state rules, on a parsed value (the generators keep kept fields under the byte caps). */
const referenceSummary = (bytes: Uint8Array): StateSummary | 'refused' => {
  const parsed = referenceParse(bytes);
  if (!parsed.valid || !isObject(parsed.value)) return 'refused';
  const doc = parsed.value;
  const written = writtenNumbers(bytes);
  const has = (key: string) => Object.hasOwn(doc, key);
  const field = (key: string) => (has(key) ? doc[key] : undefined);
  const [serial, lineage, terraformVersion] = [field('serial'), field('lineage'), field('terraform_version')];
  if (typeof serial !== 'number' || !Number.isSafeInteger(serial) || !writtenWithDigits(written['serial'])) return 'refused';
  if (typeof lineage !== 'string') return 'refused';
  if (!isStorable(lineage) || (typeof terraformVersion === 'string' && !isStorable(terraformVersion))) return 'refused';
  const encrypted = has('encryption_version');
  if (encrypted && (typeof field('encryption_version') !== 'string' || typeof field('encrypted_data') !== 'string')) return 'refused';
  if (!encrypted && (typeof field('version') !== 'number' || !writtenWithDigits(written['version']) || (has('terraform_version') && typeof terraformVersion !== 'string'))) {
    return 'refused';
  }
  const count = (value: unknown) => (Array.isArray(value) ? value.length : isObject(value) ? Object.keys(value).length : 0);
  return {
    serial,
    lineage,
    terraformVersion: typeof terraformVersion === 'string' ? terraformVersion : null,
    encrypted,
    resourceCount: encrypted ? null : count(field('resources')),
    outputCount: encrypted ? null : count(field('outputs')),
  };
};

// ---- Writing JSON in varied but valid ways -------------------------------------------------

/** Text written as it is, e.g. a number spelled `1e2`. */
class Raw {
  constructor(readonly text: string) {}
}
/** A document written with one more kind of "whitespace" (JSON has only four). */
class Spaced {
  constructor(
    readonly doc: Written,
    readonly space: string,
  ) {}
}
/** A whole document given as bytes, e.g. with invalid UTF-8 in it. */
class Bytes {
  constructor(readonly bytes: Buffer) {}
}
/** An object written member by member, so a key may repeat. */
class Members {
  constructor(readonly members: ReadonlyArray<readonly [string, Written]>) {}
}
type Written = Raw | Members | null | boolean | number | string | readonly Written[] | { readonly [key: string]: Written };

const WHITESPACE = ['', '', '', ' ', '\n  ', '\t', '\r\n', '  '];

/** A small deterministic generator, so one fc integer drives all the writing choices. */
const choices = (seed: number, whitespace: readonly string[] = WHITESPACE) => {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const pick = <A>(items: readonly A[]): A => items[Math.floor(next() * items.length)]!;
  return { chance: (p: number) => next() < p, pick, space: () => pick(whitespace) };
};
type Choices = ReturnType<typeof choices>;

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex4 = (code: number, c: Choices) => {
  const digits = code.toString(16).padStart(4, '0');
  return `\\u${c.chance(0.5) ? digits : digits.toUpperCase()}`;
};

const writeString = (s: string, c: Choices): string => {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const char = s[i]!;
    const pair = code >= 0xd800 && code <= 0xdbff && /[\udc00-\udfff]/.test(s[i + 1] ?? '');
    const lone = !pair && code >= 0xd800 && code <= 0xdfff;
    if (pair && c.chance(0.8)) {
      out += char + s[++i]!;
    } else if (lone || code < 0x20 || char === '"' || char === '\\' || c.chance(0.1)) {
      out += SHORT_ESCAPES[char] !== undefined && c.chance(0.7) ? SHORT_ESCAPES[char] : hex4(code, c);
    } else {
      out += char === '/' && c.chance(0.5) ? '\\/' : char;
    }
  }
  return `${out}"`;
};

/** A number, sometimes spelled another way that JSON.parse reads as the same value (1.0, 1e0...). */
const writeNumber = (n: number, c: Choices): string => {
  const plain = JSON.stringify(n);
  if (!Number.isInteger(n) || Math.abs(n) >= 1e15 || c.chance(0.6)) return plain;
  return c.pick([`${plain}.0`, `${plain}e0`, `${plain}E+0`, `${plain}.00e-0`, `${plain}.0E00`]);
};

const writeJson = (value: Written, c: Choices): string => {
  const ws = c.space;
  const member = (key: string, v: Written) => `${ws()}${writeString(key, c)}${ws()}:${ws()}${writeJson(v, c)}${ws()}`;
  if (value instanceof Raw) return value.text;
  if (value instanceof Members) return `{${value.members.map(([k, v]) => member(k, v)).join(',') || ws()}}`;
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return writeNumber(value, c);
  if (typeof value === 'string') return writeString(value, c);
  if (Array.isArray(value)) return `[${value.map((item: Written) => `${ws()}${writeJson(item, c)}${ws()}`).join(',') || ws()}]`;
  return `{${Object.entries(value).map(([k, v]) => member(k, v)).join(',') || ws()}}`;
};

// ---- Generators ------------------------------------------------------------------------------

/** Characters that stress the string path: quotes, escapes, controls, multi-byte text, lone surrogates. */
const trickyChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  fc.constantFrom('"', '\\', '/', '\u0000', '\u0001', '\u001f', '\u007f', 'é', '€', '😀', '\ud800', '\udfff', '\u2028', '\ufeff'),
);
const friendlyChar = fc.oneof({ weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) }, fc.constantFrom('é', '€', '中', '😀', '\n'));
/** At most 16 characters: at most 192 bytes however escaped, under the 256-byte cap. */
const shortString = fc.oneof({ weight: 3, arbitrary: fc.string({ unit: friendlyChar, maxLength: 16 }) }, fc.string({ unit: trickyChar, maxLength: 16 }));
/** Long enough for the scanner's word-at-a-time path. */
const longString = fc.string({ unit: trickyChar, minLength: 60, maxLength: 400 });
const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) as fc.Arbitrary<Written>;

/**
 * Serial (or version) as written: mostly valid (digits only, as Terraform reads them), sometimes
 * the same value written another way, not a safe non-negative integer, or not a number at all.
 */
const serialText = fc.oneof(
  { weight: 12, arbitrary: fc.nat({ max: 2 ** 40 }).map((n) => new Raw(String(n))) },
  { weight: 3, arbitrary: fc.tuple(fc.nat({ max: 2 ** 40 }), fc.integer()).map(([n, seed]) => new Raw(writeNumber(n, choices(seed)))) },
  fc.constantFrom(...['1e2', '1E+2', '2500e-2', '-0', '0.0', '1.5', '-1', '9007199254740991', '9007199254740992', '1e400', '0e-5'].map((text) => new Raw(text))),
  fc.oneof(shortString, fc.constant(null), fc.boolean(), fc.constant([])) as fc.Arbitrary<Written>,
);
/** A kept string field: mostly a short string, sometimes another type. */
const keptString = fc.oneof({ weight: 10, arbitrary: shortString as fc.Arbitrary<Written> }, fc.oneof(fc.integer(), fc.constant(null), fc.constant({})) as fc.Arbitrary<Written>);
/** `resources` / `outputs`: arrays or objects (JS objects, so no key repeats inside) or a scalar. */
const collection = fc.oneof(
  fc.array(anyJson, { maxLength: 6 }) as fc.Arbitrary<Written>,
  fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 6 }) as fc.Arbitrary<Written>,
  anyJson,
);

const KEPT_KEYS = ['serial', 'lineage', 'version', 'terraform_version', 'encryption_version', 'encrypted_data', 'resources', 'outputs'] as const;

/** A state-like document: each field present or not, extra members, some top-level keys repeated, in any order. */
const stateDocument = fc
  .record({
    serial: fc.option(serialText, { freq: 8 }),
    lineage: fc.option(keptString, { freq: 8 }),
    version: fc.option(serialText, { freq: 10 }),
    terraform_version: fc.option(keptString),
    encryption_version: fc.option(keptString, { freq: 2 }),
    encrypted_data: fc.option(fc.oneof(keptString, longString as fc.Arbitrary<Written>)),
    resources: fc.option(collection, { freq: 4 }),
    outputs: fc.option(collection, { freq: 4 }),
    extras: fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('meta', 'check_results')), fc.oneof(anyJson, longString as fc.Arbitrary<Written>)), {
      maxLength: 3,
    }),
    repeats: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      fc.array(fc.tuple(fc.constantFrom(...KEPT_KEYS), fc.oneof(keptString, serialText, collection)), { minLength: 1, maxLength: 2 }),
    ),
    order: fc.integer(),
  })
  .map(({ extras, repeats, order, ...fields }) => {
    const members: Array<[string, Written]> = [...extras];
    for (const [key, value] of Object.entries(fields)) if (value !== null) members.push([key, value]);
    const shuffle = choices(order);
    members.sort(() => (shuffle.chance(0.5) ? -1 : 1));
    // Repeats go anywhere, so the last occurrence is sometimes the repeat and sometimes not.
    for (const repeat of repeats) members.splice(Math.floor((order >>> 3) % (members.length + 1)), 0, [...repeat]);
    return new Members(members);
  });

/** Arrays and objects nested to around the depth limit, at the root or inside `resources`. */
const deepDocument = fc.tuple(fc.integer({ min: MAX_DEPTH - 6, max: MAX_DEPTH + 3 }), fc.integer(), fc.boolean()).map(([levels, seed, inState]) => {
  const c = choices(seed);
  const opens: string[] = [];
  const closes: string[] = [];
  for (let level = inState ? 3 : 1; level <= levels; level++) {
    const object = c.chance(0.3);
    opens.push(object ? `{"k${level}":` : '[');
    closes.unshift(object ? '}' : ']');
  }
  const nested = `${opens.join('')}${c.pick(['0', '"s"', 'true'])}${closes.join('')}`;
  return inState ? new Raw(`{"version":4,"serial":1,"lineage":"x","resources":[${nested}]}`) : new Raw(nested);
});

/** A long ASCII string with one odd byte sequence somewhere: the word-at-a-time path must see it wherever it falls. */
const longStringDocument = fc
  .tuple(fc.integer({ min: 64, max: 600 }), fc.nat(), fc.constantFrom([0x00], [0x1f], [0x22], [0x5c], [0x7f], [0x80], [0xc3, 0xa9], [0xed, 0xa0, 0x80], [0xff], [0x5c, 0x6e]))
  .map(([length, at, odd]) => {
    const text = Buffer.alloc(length, 'abcdefghijklmnopqrstuvwxyz0123456789+/');
    const where = at % length;
    const head = Buffer.from('{"version":4,"serial":1,"lineage":"x","outputs":{"o":"');
    return new Bytes(Buffer.concat([head, text.subarray(0, where), Buffer.from(odd), text.subarray(where), Buffer.from('"}}')]));
  });

/** Number-like text from the number grammar's alphabet, valid or not, alone, in an array or as a serial. */
const numberishDocument = fc
  .tuple(fc.string({ unit: fc.constantFrom('-', '+', '.', 'e', 'E', '0', '1', '9', '12', '.5', 'e+', 'E-', '00'), minLength: 1, maxLength: 6 }), fc.constantFrom('%', '[%]', '{"version":4,"serial":%,"lineage":"x"}'))
  .map(([number, around]) => new Raw(around.replace('%', number)));
const numberEdges = fc.constantFrom(...['1e.5', '-.5', '.5', '1.e5', '1e', '1e+', '-', '01', '-01', '1.5e+3', '0e0', '-0.0e-0', '2.', '1ee2', '1e5.0', '+1', '--1', '1-'].map((n) => new Raw(`[${n}]`)));

/** Exotic separators between tokens: the four JSON whitespace bytes and look-alikes that are not. */
const spacedDocument = fc
  .tuple(stateDocument, fc.constantFrom(' ', '\t', '\n', '\r', '\u000b', '\u000c', '\u0000', '\u00a0', '\u2028', '\u3000', '\ufeff'))
  .map(([doc, space]) => new Spaced(doc, space));

const INTERESTING_BYTES = [
  [0xef, 0xbb, 0xbf], // a BOM
  [0x22], [0x5c], [0x5c, 0x75], [0x5c, 0x75, 0x64, 0x38, 0x30, 0x30], [0x7b], [0x7d], [0x5b], [0x5d], [0x2c], [0x3a], [0x30], [0x2d], [0x65], [0x2e],
  [0x00], [0x1f], [0x0b], [0x0c], [0x7f], [0x80], [0xa0], [0xff],
  [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
  [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xc2, 0xa0], [0xe2, 0x80, 0xa8],
  [...Buffer.from('true')], [...Buffer.from('nul')], [...Buffer.from('1e')], [...Buffer.from(' \t\r\n')],
];

type Mutation =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'flip'; readonly at: number; readonly byte: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'bom' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 })) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
  fc.constant({ kind: 'bom' as const }),
);

const mutate = (bytes: Buffer, change: Mutation): Buffer => {
  if (change.kind === 'bom') return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
  const at = change.at % (bytes.length + 1);
  switch (change.kind) {
    case 'truncate':
      return bytes.subarray(0, at);
    case 'flip': {
      const copy = Buffer.from(bytes);
      if (at < copy.length) copy[at] = change.byte;
      return copy;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(change.bytes), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + change.length)]);
  }
};

/** How a document is cut and where it sits in memory (so word reads see every alignment). */
const chunking = fc.record({
  sizes: fc.oneof(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 3 })),
  shift: fc.integer({ min: 0, max: 7 }),
});
type Chunking = typeof chunking extends fc.Arbitrary<infer A> ? A : never;

const chunksOf = (bytes: Buffer, { sizes, shift }: Chunking): Buffer[] => {
  const backing = Buffer.alloc(bytes.length + shift);
  bytes.copy(backing, shift);
  const placed = backing.subarray(shift);
  const chunks: Buffer[] = [];
  for (let at = 0, k = 0; at < placed.length; k++) {
    const size = sizes[k % sizes.length]!;
    chunks.push(placed.subarray(at, at + size));
    at += size;
  }
  return chunks;
};

const inspect = (chunks: readonly Buffer[]): StateSummary | 'refused' => {
  const inspector = new StateDocumentInspector();
  for (const chunk of chunks) inspector.write(chunk);
  const result = inspector.finish();
  if (typeof result !== 'string') return result;
  if (!/^[^\n]+$/.test(result) || /undefined|\[object/.test(result)) throw new Error(`not a plain sentence: ${result}`);
  return 'refused';
};

const scanError = (chunks: readonly Buffer[]): string | undefined => {
  const scanner = new JsonScanner();
  for (const chunk of chunks) scanner.write(chunk);
  return scanner.end();
};

const ERROR_SENTENCE = /^(not valid JSON at byte \d+: [^\n]+|the document is nested more than 1000 levels deep at byte \d+)$/;

const encode = (value: Written | Bytes | Spaced, seed: number): Buffer => {
  if (value instanceof Bytes) return value.bytes;
  if (value instanceof Spaced) return Buffer.from(writeJson(value.doc, choices(seed, [...WHITESPACE, value.space])));
  return Buffer.from(writeJson(value, choices(seed)));
};
const maybeMutated = fc.tuple(fc.integer(), fc.option(fc.array(mutation, { minLength: 1, maxLength: 3 }), { freq: 2 }));
const damaged = (bytes: Buffer, mutations: readonly Mutation[] | null) => (mutations ?? []).reduce(mutate, bytes);

/**
 * Checks that `outcome` gives equal actual and expected values over `runs` generated inputs. A
 * mismatch is shrunk by fast-check, then shown by t.strictSame with the counterexample.
 */
const agree = <A>(t: Test, inputs: fc.Arbitrary<A>, outcome: (input: A) => { actual: unknown; expected: unknown }, numRuns: number) => {
  const result = fc.check(
    fc.property(inputs, (input) => {
      const { actual, expected } = outcome(input);
      return isDeepStrictEqual(actual, expected);
    }),
    { numRuns },
  );
  const report = fc.defaultReportMessage(result) ?? `${numRuns} runs`;
  if (result.failed && result.counterexample !== null) {
    const { actual, expected } = outcome(result.counterexample[0]);
    t.strictSame(actual, expected, report);
  } else {
    t.strictSame(result.failed, false, report);
  }
};

t.test('the inspector agrees with JSON.parse and the state rules', async (t) => {
  const documents = fc.tuple(fc.oneof({ weight: 12, arbitrary: stateDocument }, deepDocument, numberishDocument, spacedDocument, anyJson), maybeMutated, chunking);
  agree(
    t,
    documents,
    ([doc, [seed, mutations], cuts]) => {
      const bytes = damaged(encode(doc, seed), mutations);
      return { actual: inspect(chunksOf(bytes, cuts)), expected: referenceSummary(bytes) };
    },
    5000,
  );
  // The generators must produce acceptable states often enough for summaries to be compared.
  const accepted = fc.sample(documents, { numRuns: 1000, seed: 1 }).filter(([doc, [seed, mutations]]) => referenceSummary(damaged(encode(doc, seed), mutations)) !== 'refused');
  t.ok(accepted.length > 120, `${accepted.length} of 1000 samples are acceptable states`);
});

t.test('the scanner accepts exactly the valid JSON within the depth limit', async (t) => {
  const anyDocument = fc.oneof(anyJson, stateDocument, deepDocument, longStringDocument, spacedDocument, { weight: 2, arbitrary: numberishDocument }, numberEdges, fc.json({ maxDepth: 4 }).map((text) => new Raw(text)));
  agree(
    t,
    fc.tuple(anyDocument, maybeMutated, chunking),
    ([doc, [seed, mutations], cuts]) => {
      const bytes = damaged(encode(doc, seed), mutations);
      const error = scanError(chunksOf(bytes, cuts));
      // A refusal must be one of the scanner's sentences.
      const verdict = error === undefined ? 'valid' : ERROR_SENTENCE.test(error) ? 'invalid' : error;
      return { actual: verdict, expected: referenceParse(bytes).valid ? 'valid' : 'invalid' };
    },
    5000,
  );
});

t.test('random bytes are refused (or accepted) as the reference says', async (t) => {
  const noise = fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes));
  agree(
    t,
    fc.tuple(noise, chunking),
    ([bytes, cuts]) => ({ actual: scanError(chunksOf(bytes, cuts)) === undefined, expected: referenceParse(bytes).valid }),
    2000,
  );
});

const kindOf = (value: unknown): JsonKind =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : (typeof value as 'object' | 'string' | 'number' | 'boolean');
const textOf = (raw: RawBytes) => (raw.tooLong ? null : Buffer.from(raw.bytes.subarray(0, raw.length)).toString('utf8'));

/** What the listener should have been told of one member, from the member's own text. */
const expectedMember = (key: string, text: string, keep: number) => {
  const value: unknown = JSON.parse(text);
  const kind = kindOf(value);
  const kept = kind === 'string' || kind === 'number' ? keep : 0;
  return {
    key,
    kind,
    children: Array.isArray(value) ? value.length : isObject(value) ? Object.keys(value).length : 0,
    raw: kept === 0 ? '' : Buffer.byteLength(text) <= kept ? text : null,
  };
};

t.test('root members are reported with their key, kind, span, children and kept text', async (t) => {
  const CAPTURE = 64;
  agree(
    t,
    fc.tuple(stateDocument, fc.integer(), fc.integer({ min: 0, max: CAPTURE }), chunking),
    ([doc, seed, keep, cuts]) => {
      const bytes = encode(doc, seed);
      const actual: unknown[] = [];
      const expected: unknown[] = [];
      let key: string | null = null;
      const scanner = new JsonScanner({
        maxCaptureBytes: CAPTURE,
        listener: {
          onKey: (raw) => {
            key = textOf(raw);
            return keep;
          },
          onValue: (member: RootMember) => {
            const text = bytes.subarray(member.start, member.end).toString('utf8');
            const name = doc.members[actual.length]?.[0] ?? '';
            // A key longer than the capture limit as written comes without its text.
            actual.push({ key: key === null ? name : JSON.parse(key), kind: member.kind, children: member.children, raw: textOf(member.raw) });
            expected.push(expectedMember(name, text, keep));
          },
        },
      });
      for (const chunk of chunksOf(bytes, cuts)) scanner.write(chunk);
      return { actual: [scanner.end(), actual.length, actual], expected: [undefined, doc.members.length, expected] };
    },
    1000,
  );
});
