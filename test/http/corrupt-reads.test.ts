import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import * as Minio from 'minio';
import t, { type Test } from 'tap';
import { corruptBodiesServed } from '../../src/bodies/verified-stream.js';
import { sendBody, VERIFIED_IN_MEMORY_BYTES } from '../../src/http/send-body.js';
import { blobKeyFor } from '../../src/storage/blobs/blob-store.js';
import { defaultClient, md5Base64, stateDocument } from '../support/go-client.js';
import { capturedLogger } from '../support/log-capture.js';
import { basicAuth, PASSWORD, serveApp, startServer, USER, type TestServer } from '../support/server.js';
import { freshS3Config } from '../support/services.js';

const MiB = 1024 * 1024;
const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A valid state of its own (a fresh lineage: content-addressed blobs are never shared between cases). */
const smallState = (): Buffer => stateDocument(1, randomUUID());
/** A valid state just over the in-memory limit, so it is checked as it streams. */
const largeState = (): Buffer => stateDocument(1, randomUUID(), { padding: 'p'.repeat(VERIFIED_IN_MEMORY_BYTES + MiB) });

/** Same length, different bytes: one byte in the middle changed (as a flipped bit on disk would). */
const sameSize = (original: Buffer): Buffer => {
  const bytes = Buffer.from(original);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = bytes[middle] === 0x41 ? 0x42 : 0x41;
  return bytes;
};
const longer = (original: Buffer): Buffer => Buffer.concat([original, Buffer.from('{"appended":true}\n')]);
const shorter = (original: Buffer): Buffer => original.subarray(0, original.length - 1000);

interface RawReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** Whether the response arrived in full (node's IncomingMessage.complete). */
  readonly complete: boolean;
  /** The error the transfer ended with, if it did not end cleanly. */
  readonly error: string | undefined;
}

/** A GET that reports a transfer cut short instead of failing, with every byte that did arrive. */
const rawGet = (url: string): Promise<RawReply> =>
  new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { authorization: basicAuth(USER, PASSWORD) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let error: string | undefined;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (e: Error) => (error = e.message));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, error }));
    });
    request.on('error', reject);
  });

/** Replaces the bytes stored under a key, behind the server's back. */
type Corrupt = (key: string, bytes: Buffer) => Promise<void>;

const s3Corrupter = (s3: ReturnType<typeof freshS3Config>): Corrupt => {
  const client = new Minio.Client({
    endPoint: s3.endPoint,
    ...(s3.port === undefined ? {} : { port: s3.port }),
    useSSL: false,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: s3.region,
    pathStyle: true,
  });
  return async (key, bytes) => {
    await client.putObject(s3.bucket, key, bytes, bytes.length);
  };
};

/**
 * The fs store of a startServer lives in a temporary folder of its own (a state-ledger-t- folder, under blobs):
 * found by the blob's key, which only this test's documents have.
 */
const fsCorrupter: Corrupt = async (key, bytes) => {
  const found: string[] = [];
  for (const entry of await fs.readdir(os.tmpdir())) {
    if (!entry.startsWith('state-ledger-t-')) continue;
    const candidate = path.join(os.tmpdir(), entry, 'blobs', ...key.split('/'));
    if (await fs.access(candidate).then(() => true, () => false)) found.push(candidate);
  }
  if (found.length !== 1) throw new Error(`expected one blob file for ${key}, found ${found.length}`);
  await fs.writeFile(found[0] as string, bytes);
};

const push = async (t: Test, server: TestServer, name: string, doc: Buffer): Promise<string> => {
  t.equal((await defaultClient(server.baseUrl, name).put(doc)).status, 200, `${name} is pushed`);
  return blobKeyFor(sha256Hex(doc));
};

const expectedError = (name: string, version = 1) => ({
  error: 'corrupt_body',
  message: `the stored body of version ${version} of state ${name} is corrupt (its bytes do not match the checksum recorded when it was pushed); the server's log has the details: restore the blob from a backup, or read or roll back to another version`,
});

/** Polls a condition for up to 5 s: what the server does after the client saw the connection close. */
const eventually = async (condition: () => boolean): Promise<boolean> => {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (condition()) return true;
  }
  return condition();
};

/** Log lines at warn or above that report the corruption of this blob of this state. */
const corruptionLines = (lines: Array<Record<string, unknown>>, name: string, key: string) =>
  lines.filter((line) => {
    const text = `${String(line.msg)} ${String((line.err as { message?: unknown } | undefined)?.message)}`;
    return (line.level as number) >= 40 && text.includes('corruption') && text.includes(key) && text.includes(`state ${name} `);
  });

/** Every read that serves a stored body: the current state, a version, the state at a point in time. */
const readsOf = (name: string): string[] => [`/states/${name}`, `/states/${name}/versions/1`, `/states/${name}?at=${new Date(Date.now() + 60_000).toISOString()}`];

const CORRUPTIONS = [
  ['same size', sameSize],
  ['longer', longer],
  ['shorter', shorter],
] as const;

for (const store of ['s3', 'fs'] as const) {
  t.test(`${store} store: a corrupt body is never served as a success`, async (t) => {
    const s3 = freshS3Config();
    const { logger, lines } = capturedLogger();
    const server = await startServer(t, { blobs: store, s3, logger });
    const corrupt = store === 's3' ? s3Corrupter(s3) : fsCorrupter;

    t.test('an intact body is served byte for byte, with its headers, and 304 for its ETag', async (t) => {
      for (const [name, doc] of [
        ['small-ok', smallState()],
        ['large-ok', largeState()],
      ] as const) {
        await push(t, server, name, doc);
        const before = corruptBodiesServed();
        const reply = await rawGet(`${server.baseUrl}/states/${name}`);
        t.strictSame(
          { status: reply.status, complete: reply.complete, error: reply.error, length: reply.body.length, sha256: sha256Hex(reply.body) },
          { status: 200, complete: true, error: undefined, length: doc.length, sha256: sha256Hex(doc) },
          `${name}: the whole body, intact`,
        );
        t.ok(reply.body.equals(doc), `${name}: the same bytes`);
        t.strictSame(
          [reply.headers.etag, reply.headers['x-state-version'], reply.headers['content-md5'], reply.headers['content-length'], reply.headers['content-type']],
          [`"${sha256Hex(doc)}"`, '1', md5Base64(doc), String(doc.length), 'application/json'],
        );
        const again = await server.request(`/states/${name}`, { headers: { 'if-none-match': `"${sha256Hex(doc)}"` } });
        t.strictSame([again.status, again.headers.get('etag'), again.headers.get('x-state-version'), (await again.arrayBuffer()).byteLength], [304, `"${sha256Hex(doc)}"`, '1', 0]);
        t.strictSame(corruptBodiesServed(), before, `${name}: nothing counted as corrupt`);
      }
    });

    t.test('a small corrupt body is refused before a byte goes out: 500 corrupt_body, logged, counted', async (t) => {
      for (const [how, mangle] of CORRUPTIONS) {
        const name = `small-${how.replace(' ', '-')}`;
        const doc = smallState();
        const key = await push(t, server, name, doc);
        await corrupt(key, mangle(doc));
        for (const url of readsOf(name)) {
          const before = corruptBodiesServed();
          const linesBefore = corruptionLines(lines(), name, key).length;
          const reply = await server.request(url);
          t.strictSame(
            { status: reply.status, etag: reply.headers.get('etag'), version: reply.headers.get('x-state-version'), body: await reply.json() },
            { status: 500, etag: null, version: null, body: expectedError(name) },
            `${how}: GET ${url} answers 500 corrupt_body`,
          );
          t.strictSame(corruptBodiesServed(), before + 1, `${how}: GET ${url} is counted`);
          const logged = corruptionLines(lines(), name, key).slice(linesBefore);
          t.strictSame(
            logged.map((line) => [line.level, line.status]),
            [[50, 500]],
            `${how}: GET ${url} is logged once, at error level, as corruption of ${key}`,
          );
        }
      }
    });

    t.test('a large corrupt body is cut short: never a complete 200 of wrong bytes; logged, counted', async (t) => {
      for (const [how, mangle] of CORRUPTIONS) {
        const name = `large-${how.replace(' ', '-')}`;
        const doc = largeState();
        t.ok(doc.length > VERIFIED_IN_MEMORY_BYTES, 'the state is streamed, not read whole first');
        const key = await push(t, server, name, doc);
        const stored = mangle(doc);
        await corrupt(key, stored);
        for (const url of readsOf(name)) {
          const before = corruptBodiesServed();
          const linesBefore = corruptionLines(lines(), name, key).length;
          const reply = await rawGet(`${server.baseUrl}${url}`);
          t.strictSame([reply.status, reply.headers['content-length']], [200, String(doc.length)], `${how}: GET ${url} started as the recorded body`);
          t.strictSame(reply.complete, false, `${how}: GET ${url} did not complete`);
          t.ok(reply.body.length < doc.length, `${how}: GET ${url} got ${reply.body.length} of ${doc.length} bytes`);
          t.ok(stored.subarray(0, reply.body.length).equals(reply.body), `${how}: what arrived is a prefix of the stored bytes`);
          t.notOk(reply.body.equals(stored), `${how}: the stored bytes never arrived whole`);
          t.strictSame(corruptBodiesServed(), before + 1, `${how}: GET ${url} is counted`);
          // Without a logger of its own, sendBody leaves the line to the app's error handler, once the response has closed.
          t.ok(await eventually(() => corruptionLines(lines(), name, key).length > linesBefore), `${how}: GET ${url} is logged as corruption of ${key}`);
        }
      }
    });
  });
}

t.test('given a logger, sendBody logs a cut-short body at error level with where it came from', async (t) => {
  const s3 = freshS3Config();
  const server = await startServer(t, { s3 });
  const { logger, lines } = capturedLogger();
  const doc = largeState();
  const key = await push(t, server, 'logged', doc);
  const ref = { version: 1, blob_key: key, sha256: sha256Hex(doc), md5: null, size: doc.length };
  const app = express();
  app.get('/states/:name', (req, res) => sendBody(req, res, server.blobs, ref, logger));
  app.use((_error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.destroy());
  const { baseUrl } = await serveApp(t, app);

  const intact = await rawGet(`${baseUrl}/states/logged`);
  t.strictSame(
    [intact.status, intact.complete, intact.headers['content-md5'], sha256Hex(intact.body)],
    [200, true, undefined, sha256Hex(doc)],
    'intact: served whole, and no Content-MD5 when none was recorded',
  );
  t.strictSame(lines(), [], 'nothing logged for an intact body');

  const stored = sameSize(doc);
  await s3Corrupter(s3)(key, stored);
  const before = corruptBodiesServed();
  const reply = await rawGet(`${baseUrl}/states/logged`);
  t.strictSame([reply.status, reply.complete], [200, false], 'cut short');
  t.ok(reply.body.length < doc.length, `${reply.body.length} of ${doc.length} bytes arrived`);
  t.strictSame(corruptBodiesServed(), before + 1, 'counted');
  const { time: _time, pid: _pid, hostname: _hostname, ...line } = lines()[0] ?? {};
  t.strictSame(
    { line, more: lines().length },
    {
      line: {
        level: 50,
        state: 'logged',
        version: 1,
        blob_key: key,
        expected_sha256: sha256Hex(doc),
        expected_size: doc.length,
        actual_sha256: sha256Hex(stored),
        actual_size: doc.length,
        msg: `corruption: the stored body of version 1 of state logged (blob ${key}) does not match the ledger: its SHA-256 is ${sha256Hex(stored)}, not the ${sha256Hex(doc)} recorded; the transfer was cut short`,
      },
      more: 1,
    },
    'one error line names the state, the version, the blob and both checksums',
  );
});
