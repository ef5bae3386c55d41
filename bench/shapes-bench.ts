import fs from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Target } from './http.js';
import { processTree } from '../test/support/process-tree.js';
import { processMemory, readMemory } from './server-process.js';

/**
 * The server's peak memory while large states of hostile and ordinary shapes go in and come back
 * out: each shape once alone, then four at once. Bodies are generated as streams, so the bench
 * itself holds none of them.
 */

export const SHAPE_BYTES = 500_000_000;
const DEPTH_UNDER_LIMIT = 999; // the root object is level 1, the array holding the units level 2
const LINEAGE = 'be4c0000-0000-4000-8000-0000000005ba';

interface Shape {
  readonly name: string;
  /** Everything before the repeated units; `serial` makes each push distinct bytes. */
  readonly prefix: (serial: number) => string;
  readonly unit: string;
  readonly separator: string;
  readonly suffix: string;
}

const serialText = (serial: number) => String(serial).padStart(9, '0').replace(/^0+(?=\d)/, (zeros) => ' '.repeat(zeros.length));
const plainHead = (serial: number) => `{"version":4,"terraform_version":"1.9.8","serial":${serialText(serial)},"lineage":"${LINEAGE}",`;

const nested = `${'['.repeat(DEPTH_UNDER_LIMIT - 2)}${']'.repeat(DEPTH_UNDER_LIMIT - 2)}`;
const resourceUnit = JSON.stringify({
  mode: 'managed',
  type: 'aws_instance',
  name: 'node',
  provider: 'provider["registry.terraform.io/hashicorp/aws"]',
  instances: [{ schema_version: 1, attributes: { id: 'i-0123456789abcdef0', instance_type: 't3.micro', user_data: 'x'.repeat(1500) }, sensitive_attributes: [] }],
});

export const SHAPES: readonly Shape[] = [
  { name: 'one huge string', prefix: (s) => `${plainHead(s)}"outputs":{"blob":{"type":"string","value":"`, unit: 'QUJDRA==', separator: '', suffix: '"}},"resources":[]}' },
  {
    name: 'OpenTofu-encrypted',
    prefix: (s) => `{"serial":${serialText(s)},"lineage":"${LINEAGE}","meta":{"key_provider.pbkdf2.main":"eyJzYWx0IjoiLi4uIn0="},"encrypted_data":"`,
    unit: 'c2VjcmV0IHBheWxvYWQh',
    separator: '',
    suffix: '","encryption_version":"v0"}',
  },
  { name: 'millions of tiny objects', prefix: (s) => `${plainHead(s)}"outputs":{},"resources":[`, unit: '{}', separator: ',', suffix: ']}' },
  { name: `nesting ${DEPTH_UNDER_LIMIT} deep`, prefix: (s) => `${plainHead(s)}"outputs":{},"resources":[],"check_results":[`, unit: nested, separator: ',', suffix: ']}' },
  { name: 'many resources', prefix: (s) => `${plainHead(s)}"outputs":{},"resources":[`, unit: resourceUnit, separator: ',', suffix: ']}' },
];

const CHUNK_UNITS_BYTES = 1 << 20;

/** The document as a stream of about SHAPE_BYTES, and its exact length. */
const documentOf = (shape: Shape, serial: number): { length: number; stream: () => Readable } => {
  const prefix = shape.prefix(serial);
  const step = shape.unit.length + shape.separator.length;
  const units = Math.max(1, Math.floor((SHAPE_BYTES - prefix.length - shape.suffix.length + shape.separator.length) / step));
  const length = prefix.length + units * step - shape.separator.length + shape.suffix.length;
  const perChunk = Math.max(1, Math.floor(CHUNK_UNITS_BYTES / step));
  const block = Buffer.from(`${shape.unit}${shape.separator}`.repeat(perChunk));
  return {
    length,
    stream: () =>
      Readable.from(
        (function* generate() {
          yield Buffer.from(prefix);
          let left = units;
          while (left > perChunk) {
            yield block;
            left -= perChunk;
          }
          yield Buffer.from(`${`${shape.unit}${shape.separator}`.repeat(left - 1)}${shape.unit}${shape.suffix}`);
        })(),
        { objectMode: false },
      ),
  };
};

const request = (target: Target, method: string, path: string, body?: { length: number; stream: () => Readable }): Promise<{ status: number; bytes: number; text: string }> =>
  new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization: target.authorization };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    const req = http.request({ host: '127.0.0.1', port: target.port, method, path, headers, agent: target.agent }, (res) => {
      let bytes = 0;
      let text = '';
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (text.length < 4096) text += chunk.toString('utf8', 0, 4096);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, bytes, text }));
      res.once('error', reject);
    });
    req.setTimeout(600_000, () => req.destroy(new Error(`${method} ${path} took more than 10 minutes`)));
    req.once('error', reject);
    if (body === undefined) req.end();
    else void pipeline(body.stream(), req).catch(reject);
  });

/** Pushes the document and reads it back, checking the status and the length. */
const roundTrip = async (target: Target, name: string, shape: Shape, serial: number): Promise<void> => {
  const document = documentOf(shape, serial);
  const pushed = await request(target, 'POST', `/states/${name}`, document);
  if (pushed.status !== 200) throw new Error(`push of ${shape.name}: HTTP ${pushed.status} ${pushed.text}`);
  const read = await request(target, 'GET', `/states/${name}`);
  if (read.status !== 200 || read.bytes !== document.length) throw new Error(`read of ${shape.name}: HTTP ${read.status}, ${read.bytes} of ${document.length} bytes`);
};

/** Resets the peak (VmHWM) of the server and its children to their resident sets, so the next peak belongs to what follows. */
const resetPeak = (pid: number): void => {
  for (const member of processTree(pid)) fs.writeFileSync(`/proc/${member}/clear_refs`, '5');
};

export interface ShapeResult {
  readonly shape: string;
  readonly bytes: number;
  /** Peak resident set above the resident set just before, in bytes, of the server and its projections process (their peaks added up). */
  readonly oneGrowth: number;
  readonly fourGrowth: number;
  /** The same of the serving process alone: what requests take. */
  readonly oneServerGrowth: number;
  readonly fourServerGrowth: number;
  /** The same peak, until the asynchronous projections have read and indexed the four bodies too. */
  readonly fourIndexedGrowth: number;
  readonly oneMs: number;
  readonly fourMs: number;
}

/**
 * Peak growth while `work` runs: the high-water marks minus the resident sets before, of the process
 * tree and of the serving process alone; then the tree's again once `after` is done.
 */
const peakGrowth = async (pid: number, work: () => Promise<void>, after: () => Promise<void> = async () => undefined) => {
  await new Promise((r) => setTimeout(r, 500)); // let the last phase's buffers go
  resetPeak(pid);
  const before = readMemory(pid).rss;
  const serverBefore = processMemory(pid).rss;
  const started = Date.now();
  await work();
  const growth = readMemory(pid).hwm - before;
  const serverGrowth = processMemory(pid).hwm - serverBefore;
  const ms = Date.now() - started;
  await after();
  return { growth, serverGrowth, ms, growthAfter: readMemory(pid).hwm - before };
};

/** Until /readyz?verbose shows every asynchronous projection caught up (polled every 500 ms, 10 minutes at most). */
const indexed = async (target: Target): Promise<void> => {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const ready = await request(target, 'GET', '/readyz?verbose');
    const lags = (JSON.parse(ready.text) as { projections?: Array<{ lag_events: number }> }).projections ?? [];
    if (lags.every((lag) => lag.lag_events === 0)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the projections did not catch up within 10 minutes');
};

export const shapesBench = async (target: Target, serverPid: number, log: (line: string) => void): Promise<ShapeResult[]> => {
  const results: ShapeResult[] = [];
  let serial = 1;
  for (const [index, shape] of SHAPES.entries()) {
    log(`shape: ${shape.name}, one push and read of ${(documentOf(shape, 1).length / 1e6).toFixed(0)} MB`);
    const one = await peakGrowth(serverPid, () => roundTrip(target, `shape-${index}-one`, shape, serial++));
    log(`shape: ${shape.name}, four at once`);
    const four = await peakGrowth(serverPid, async () => {
      await Promise.all([0, 1, 2, 3].map((i) => roundTrip(target, `shape-${index}-four-${i}`, shape, serial++)));
    }, () => indexed(target));
    results.push({
      shape: shape.name,
      bytes: documentOf(shape, 1).length,
      oneGrowth: one.growth,
      fourGrowth: four.growth,
      oneServerGrowth: one.serverGrowth,
      fourServerGrowth: four.serverGrowth,
      fourIndexedGrowth: four.growthAfter,
      oneMs: one.ms,
      fourMs: four.ms,
    });
  }
  return results;
};
