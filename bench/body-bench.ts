import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type * as Minio from 'minio';
import type pg from 'pg';
import { expectStatus, send, type Target } from './http.js';
import { median } from './stats.js';

const LINEAGE = 'be4c0000-0000-4000-8000-00000000be4c';

/** A deterministic stream of hex so the document is not one repeated string. */
export const hexStream = (seed: number) => {
  let counter = seed;
  let pool = '';
  return (length: number): string => {
    while (pool.length < length) pool += createHash('sha256').update(String(counter++)).digest('hex');
    const out = pool.slice(0, length);
    pool = pool.slice(length);
    return out;
  };
};

export const resource = (i: number, hex: (n: number) => string): string =>
  JSON.stringify({
    module: `module.app_${i % 97}`,
    mode: 'managed',
    type: 'aws_instance',
    name: `node_${i}`,
    provider: 'provider["registry.terraform.io/hashicorp/aws"]',
    instances: [
      {
        schema_version: 1,
        attributes: {
          id: `i-${hex(17)}`,
          ami: `ami-${hex(17)}`,
          arn: `arn:aws:ec2:us-east-1:123456789012:instance/i-${hex(17)}`,
          instance_type: 't3.micro',
          private_ip: `10.${i % 256}.${(i >> 8) % 256}.${(i * 7) % 256}`,
          subnet_id: `subnet-${hex(17)}`,
          tags: { Name: `node-${i}`, Team: 'platform', CostCenter: String(1000 + (i % 50)) },
          user_data: hex(1200),
          root_block_device: [{ volume_size: 20, volume_type: 'gp3', encrypted: true, iops: 3000, throughput: 125 }],
        },
        sensitive_attributes: [],
        private: hex(160),
        dependencies: [`module.app_${i % 97}.aws_subnet.main`, 'aws_security_group.nodes'],
      },
    ],
  });

/**
 * A valid Terraform state (format 4) of about `targetBytes` (many ~2 KB resources); documents for
 * different serials share the resources, so each push is new bytes without regenerating 100 MB.
 */
export const stateDocuments = (targetBytes: number): ((serial: number) => Buffer) => {
  const hex = hexStream(targetBytes);
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < targetBytes - 200; i++) {
    const r = resource(i, hex);
    parts.push(r);
    size += r.length + 1;
  }
  const resources = Buffer.from(parts.join(','));
  return (serial) =>
    Buffer.concat([
      Buffer.from(`{"version":4,"terraform_version":"1.9.8","serial":${serial},"lineage":"${LINEAGE}","outputs":{},"resources":[`),
      resources,
      Buffer.from('],"check_results":null}\n'),
    ]);
};

export interface BodyRuns {
  readonly runs: number;
  readonly bytes: number;
  /** Per run, in ms. */
  readonly msPerOp: readonly number[];
  readonly medianMs: number;
  readonly mibPerS: number;
}

const summarize = (bytes: number, msPerOp: number[]): BodyRuns => {
  const medianMs = median(msPerOp);
  return { runs: msPerOp.length, bytes, msPerOp, medianMs, mibPerS: bytes / (1024 * 1024) / (medianMs / 1000) };
};

/**
 * Runs `op` up to `runs` times (at least once), stopping early when `maxMs` has gone by;
 * `setup` (untimed) makes what each run needs, such as the document to push.
 */
export const timeRuns = async <A>(
  runs: number,
  maxMs: number,
  bytes: number,
  setup: (run: number) => A,
  op: (input: A) => Promise<void>,
): Promise<BodyRuns> => {
  const msPerOp: number[] = [];
  const deadline = performance.now() + maxMs;
  for (let run = 0; run < runs && (run === 0 || performance.now() < deadline); run++) {
    const input = setup(run);
    const t0 = performance.now();
    await op(input);
    msPerOp.push(performance.now() - t0);
  }
  return summarize(bytes, msPerOp);
};

export interface PreparedBody {
  readonly serial: number;
  readonly body: Buffer;
  readonly md5: string;
}

/** Documents (and their MD5, as the client computes before sending) made before the clock starts. */
export const prepare = (make: (serial: number) => Buffer, serial: number): PreparedBody => {
  const body = make(serial);
  return { serial, body, md5: createHash('md5').update(body).digest('base64') };
};

export const serverPush = async (target: Target, name: string, doc: PreparedBody, timeoutMs: number): Promise<void> => {
  const reply = await send(target, 'POST', `/states/${name}`, { body: doc.body, md5: doc.md5, keepBody: true, timeoutMs });
  expectStatus(reply, 200, `POST /states/${name} (${doc.body.length} bytes)`);
};

export const serverRead = async (target: Target, name: string, expectedBytes: number, timeoutMs: number): Promise<void> => {
  const reply = await send(target, 'GET', `/states/${name}`, { timeoutMs });
  expectStatus(reply, 200, `GET /states/${name}`);
  if (reply.bytes !== expectedBytes) throw new Error(`GET /states/${name} returned ${reply.bytes} bytes, expected ${expectedBytes}`);
};

export const FLOOR_VERSIONS_TABLE = `
  CREATE TABLE bench_floor_versions (
    name text NOT NULL, serial bigint NOT NULL, blob_key text NOT NULL, size bigint NOT NULL,
    PRIMARY KEY (name, serial)
  );`;

/** The floor of a push: the same bytes put to S3 with the plain client, then one PostgreSQL commit. */
export const floorPush = async (s3: Minio.Client, bucket: string, db: pg.Client, name: string, doc: PreparedBody): Promise<void> => {
  const key = `floor/${name}/${doc.serial}`;
  await s3.putObject(bucket, key, doc.body, doc.body.length, { 'Content-Type': 'application/json' });
  await db.query('INSERT INTO bench_floor_versions (name, serial, blob_key, size) VALUES ($1, $2, $3, $4)', [
    name,
    doc.serial,
    key,
    doc.body.length,
  ]);
};

/** The floor of a read: a plain getObject, drained. */
export const floorRead = async (s3: Minio.Client, bucket: string, name: string, serial: number, expectedBytes: number): Promise<void> => {
  const stream: Readable = await s3.getObject(bucket, `floor/${name}/${serial}`);
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  if (bytes !== expectedBytes) throw new Error(`getObject returned ${bytes} bytes, expected ${expectedBytes}`);
};
