/**
 * Throughput of the state-body validator (JsonScanner + StateDocumentInspector) on ~100 MB
 * documents of several shapes, fed in 64 KiB chunks as the HTTP layer does, next to JSON.parse of
 * the same text. Not a test: it asserts nothing. Run it alone with `npx tsx bench/validator-bench.ts`;
 * bench/run.ts may call measureValidator().
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { StateDocumentInspector } from '../src/bodies/state-document.js';
import { hexStream, resource } from './body-bench.js';
import { MiB, num, table } from './stats.js';

const TARGET_BYTES = 100 * MiB;
const CHUNK_BYTES = 64 * 1024;
const RUNS = 3;
/** JSON.parse is only the yardstick, and takes tens of seconds on some shapes: one run. */
const JSON_PARSE_RUNS = 1;
/** The nesting the inspector accepts at most; the deep shape stays just under it. */
const MAX_DEPTH = 1000;

export interface ValidatorResult {
  readonly shape: string;
  readonly mbPerSecond: number;
  readonly bytes: number;
}

/** A small deterministic generator, so every run measures the same bytes. */
const pseudoRandom = (seed: number) => {
  let state = seed >>> 0;
  return (): number => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state;
  };
};


const HEADER = '"version": 4,\n  "terraform_version": "1.9.8",\n  "serial": 42,\n  "lineage": "be4c0000-0000-4000-8000-00000000be4c"';

/** A plain state whose `resources` array is made of the given pieces, up to TARGET_BYTES. */
const stateAround = (piece: (i: number) => string): Buffer => {
  const parts = [`{\n  ${HEADER},\n  "outputs": {},\n  "resources": [\n`];
  let size = parts[0]!.length;
  for (let i = 0; size < TARGET_BYTES; i++) {
    const part = (i === 0 ? '' : ',\n') + piece(i);
    parts.push(part);
    size += part.length;
  }
  parts.push('\n  ]\n}\n');
  return Buffer.from(parts.join(''));
};

/** Pretty-printed as Terraform writes it: many resources (the push bench's), each a handful of short strings and numbers. */
const typicalState = (): Buffer => {
  const hex = hexStream(1);
  return stateAround((i) => JSON.stringify(JSON.parse(resource(i, hex)), null, 2));
};

const base64Of = (bytes: number): string => {
  const next = pseudoRandom(2);
  const raw = Buffer.alloc(Math.ceil((bytes * 3) / 4));
  for (let i = 0; i < raw.length; i += 4) raw.writeUInt32LE(next(), Math.min(i, raw.length - 4));
  return raw.toString('base64');
};

/** One output whose value is a single ~100 MB string with escapes and non-ASCII text here and there. */
const hugeString = (): Buffer => {
  const line = 'The quick brown fox jumps over the lazy dog: 0123456789 \\"quoted\\" café ☕ \\u00e9\\n';
  const body = line.repeat(Math.ceil(TARGET_BYTES / line.length));
  return Buffer.from(`{${HEADER},"resources":[],"outputs":{"blob":{"type":"string","value":"${body}"}}}`);
};

/** An OpenTofu-encrypted state: a 100 MB base64 payload. */
const encryptedState = (): Buffer =>
  Buffer.from(`{"serial":7,"lineage":"l-1","meta":{"key_provider.pbkdf2.main":"e30="},"encrypted_data":"${base64Of(TARGET_BYTES)}","encryption_version":"v0"}`);

/** Millions of tiny objects: every byte is structure. */
const tinyObjects = (): Buffer => stateAround((i) => (i % 2 === 0 ? '{}' : '{"a":1}'));

/** Arrays nested up to the depth limit, over and over (the root object and `resources` take two levels). */
const deepNesting = (): Buffer => {
  const levels = MAX_DEPTH - 2;
  const nest = '['.repeat(levels) + ']'.repeat(levels);
  return stateAround(() => nest);
};

const SHAPES: ReadonlyArray<readonly [string, () => Buffer]> = [
  ['typical state', typicalState],
  ['one huge string', hugeString],
  ['encrypted 100 MB base64', encryptedState],
  ['millions of tiny objects', tinyObjects],
  ['nesting 1000 deep, repeated', deepNesting],
];

const inspectInChunks = (body: Buffer): void => {
  const inspector = new StateDocumentInspector();
  for (let at = 0; at < body.length; at += CHUNK_BYTES) inspector.write(body.subarray(at, at + CHUNK_BYTES));
  const summary = inspector.finish();
  if (typeof summary === 'string') throw new Error(`the bench document was refused: ${summary}`);
};

/** MB/s (10^6 bytes per second) of the best of `runs` runs: the least disturbed by GC and the other core. */
const bestRate = (bytes: number, runs: number, run: () => void): number => {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    run();
    best = Math.min(best, performance.now() - started);
  }
  return bytes / 1e6 / (best / 1000);
};

interface ShapeResult extends ValidatorResult {
  readonly jsonParseMbPerSecond: number;
}

const measureShape = (shape: string, build: () => Buffer, withJsonParse: boolean): ShapeResult => {
  const body = build();
  const mbPerSecond = bestRate(body.length, RUNS, () => inspectInChunks(body));
  let jsonParseMbPerSecond = Number.NaN;
  if (withJsonParse) {
    const text = body.toString('utf8');
    jsonParseMbPerSecond = bestRate(body.length, JSON_PARSE_RUNS, () => JSON.parse(text));
  }
  return { shape, mbPerSecond, bytes: body.length, jsonParseMbPerSecond };
};

/** The validator's throughput per shape, for the main bench. */
export const measureValidator = async (): Promise<ValidatorResult[]> => {
  const results: ValidatorResult[] = [];
  for (const [shape, build] of SHAPES) {
    const { mbPerSecond, bytes } = measureShape(shape, build, false);
    results.push({ shape, mbPerSecond, bytes });
    // Each shape blocks for seconds: let the caller's timers and logs run in between.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return results;
};

const main = (): void => {
  const rows = [['shape', 'MB', 'validator MB/s', 'JSON.parse MB/s']];
  for (const [shape, build] of SHAPES) {
    const result = measureShape(shape, build, true);
    rows.push([shape, num(result.bytes / 1e6), num(result.mbPerSecond), num(result.jsonParseMbPerSecond)]);
  }
  for (const line of table(rows)) console.log(line);
};

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
