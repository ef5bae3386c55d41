import fs from 'node:fs/promises';
import net from 'node:net';
import t from 'tap';
import { stateDocument } from '../support/go-client.js';
import { parseRaw, rawExchange } from '../support/raw-http.js';
import { basicAuth, PASSWORD, startServer, USER } from '../support/server.js';
import { tempDir } from '../support/services.js';

const AUTH = basicAuth(USER, PASSWORD);

/** A push's headers announcing `length` bytes, then `sent` of them. */
const partialPush = (name: string, length: number, sent: string, auth: string | null = AUTH) =>
  `POST /states/${name} HTTP/1.1\r\nHost: x\r\n${auth === null ? '' : `Authorization: ${auth}\r\n`}Content-Length: ${length}\r\n\r\n${sent}`;

/** Holds a connection open with a stalled upload until the test ends or the server drops it. */
const stalledUpload = (baseUrl: string, name: string): Promise<net.Socket> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(baseUrl);
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(partialPush(name, 1 << 20, '{"version": 4,'));
      setTimeout(() => resolve(socket), 200);
    });
    socket.on('error', () => undefined);
  });

t.test('an unauthenticated push is answered 401 without reading its body, and the connection closed', async (t) => {
  const tmpDir = await tempDir(t);
  const server = await startServer(t, { tmpDir });
  const exchange = await rawExchange(server.baseUrl, partialPush('nope', 100 << 20, 'x'.repeat(1000), null), 10_000);
  const { status, headers, body } = parseRaw(exchange.received);
  t.equal(status, 401);
  t.match(headers, /connection: close/);
  t.match(headers, /www-authenticate: basic realm="state-ledger"/);
  t.strictSame(body, {
    error: 'unauthorized',
    message:
      'credentials are required: HTTP Basic (a user and password; or user name token or oidc with an API token or a JWT as the password), or Authorization: Bearer <token or JWT>',
  });
  t.ok(exchange.closedByServer, 'the server closed the connection without waiting for 100 MB');
  t.strictSame(await fs.readdir(tmpDir), [], 'no temporary file was started');
});

t.test('an answer given before the body has arrived closes the connection (no body is trickled in for an hour)', async (t) => {
  const server = await startServer(t);
  for (const [what, head] of [
    ['a health check', 'GET /livez HTTP/1.1\r\nHost: x\r\n'],
    ['a refused encoding', `POST /states/x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Encoding: gzip\r\n`],
    ['a read', `GET /states HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n`],
  ] as const) {
    const exchange = await rawExchange(server.baseUrl, `${head}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n`, 10_000);
    t.match(parseRaw(exchange.received).headers, /connection: close/, `${what}: answered with Connection: close`);
    t.ok(exchange.closedByServer && exchange.ms < 5000, `${what}: the connection was closed, not held for the rest of the body (${exchange.ms} ms)`);
  }
});

t.test('an answer to a request without a body keeps the connection open for the next one', async (t) => {
  const server = await startServer(t);
  for (const [what, head] of [
    ['a health check', 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['an empty body', 'GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'],
    ['a read', `GET /states HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`],
  ] as const) {
    const exchange = await rawExchange(server.baseUrl, head, 1500);
    const { status, headers } = parseRaw(exchange.received);
    t.strictSame([status, /connection: keep-alive/.test(headers), exchange.closedByServer], [200, true, false], `${what}: kept alive`);
  }
});

t.test('a body that stalls is dropped after the idle timeout, with nothing kept', async (t) => {
  const tmpDir = await tempDir(t);
  const server = await startServer(t, { tmpDir, traffic: { bodyIdleTimeoutMs: 1000 } });
  const exchange = await rawExchange(server.baseUrl, partialPush('stalled', 1 << 20, '{"version": 4,'), 15_000);
  t.ok(exchange.closedByServer, `the server let go of the stalled upload (after ${exchange.ms} ms)`);
  t.strictSame(await fs.readdir(tmpDir), [], 'its temporary file was removed');
  const { rows } = await server.db.pool.query('SELECT count(*)::int AS n FROM events');
  t.equal(rows[0].n, 0, 'no version');
  t.equal((await server.request('/states/stalled', { method: 'POST', body: new Uint8Array(stateDocument(1)) })).status, 200, 'uploads work on');
});

t.test('concurrent uploads are capped per client address (429) and in all (503), answered before their bodies', async (t) => {
  const perClient = await startServer(t, { traffic: { maxUploadsPerClient: 2, maxUploads: 10 } });
  const held = [await stalledUpload(perClient.baseUrl, 'a'), await stalledUpload(perClient.baseUrl, 'b')];
  t.teardown(() => held.forEach((socket) => socket.destroy()));
  const refused = await perClient.request('/states/c', { method: 'POST', body: new Uint8Array(stateDocument(1)) });
  t.equal(refused.status, 429);
  t.equal(refused.headers.get('retry-after'), '2');
  t.strictSame(await refused.json(), { error: 'too_many_uploads', message: 'this client already has 2 uploads in progress; retry when one has finished' });
  t.equal((await perClient.request('/states')).status, 200, 'other requests are served meanwhile');
  held.forEach((socket) => socket.destroy());
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await perClient.request('/states/c', { method: 'POST', body: new Uint8Array(stateDocument(1)) })).status, 200, 'a freed slot is reused');

  const overall = await startServer(t, { traffic: { maxUploadsPerClient: 10, maxUploads: 2 } });
  const busy = [await stalledUpload(overall.baseUrl, 'a'), await stalledUpload(overall.baseUrl, 'b')];
  t.teardown(() => busy.forEach((socket) => socket.destroy()));
  const full = await overall.request('/states/c', { method: 'POST', body: new Uint8Array(stateDocument(1)) });
  t.equal(full.status, 503);
  t.strictSame(await full.json(), { error: 'server_busy', message: 'the server is taking 2 uploads already; retry shortly' });
});

t.test("Node's own refusals are JSON: malformed requests, oversized headers, headers too slow", async (t) => {
  const server = await startServer(t, { traffic: { headersTimeoutMs: 1000 } });
  const malformed = parseRaw((await rawExchange(server.baseUrl, 'BLAH\r\n\r\n', 5000)).received);
  t.equal(malformed.status, 400);
  t.strictSame(malformed.body, { error: 'bad_request', message: 'the request is not valid HTTP/1.1' });
  const huge = parseRaw((await rawExchange(server.baseUrl, `GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`, 5000)).received);
  t.equal(huge.status, 431);
  t.strictSame(huge.body, { error: 'headers_too_large', message: "the request's headers are too large" });
  const slow = await rawExchange(server.baseUrl, 'GET /livez HTTP/1.1\r\nHost: x\r\n', 10_000);
  t.equal(parseRaw(slow.received).status, 408, `headers that never finish are answered 408 (after ${slow.ms} ms)`);
  t.strictSame(parseRaw(slow.received).body, { error: 'request_timeout', message: 'the request did not arrive in time' });
  t.equal((await fetch(`${server.baseUrl}/livez`)).status, 200, 'the server serves on');
});

t.test('a small body that trickles in is answered 408 within the request timeout', async (t) => {
  const server = await startServer(t, { traffic: { requestTimeoutMs: 1000 } });
  const exchange = await rawExchange(
    server.baseUrl,
    `POST /states/slow/lock HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 100\r\n\r\n{"ID":`,
    10_000,
  );
  const { status, body } = parseRaw(exchange.received);
  t.equal(status, 408);
  t.strictSame(body, { error: 'request_timeout', message: 'the request did not arrive in full within 1 s' });
  t.equal((await server.request('/states/slow/lock')).status, 404, 'no lock was taken');
});

t.test('connections beyond the cap are refused while the others are served', async (t) => {
  const server = await startServer(t, { traffic: { maxConnections: 3 } });
  const { hostname, port } = new URL(server.baseUrl);
  const open = await Promise.all(
    Array.from({ length: 3 }, () => new Promise<net.Socket>((resolve) => {
      const socket = net.connect(Number(port), hostname, () => resolve(socket));
    })),
  );
  t.teardown(() => open.forEach((socket) => socket.destroy()));
  await new Promise((r) => setTimeout(r, 100));
  const extra = await rawExchange(server.baseUrl, 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
  t.ok(extra.closedByServer && extra.received === '', 'the fourth connection is closed unanswered');
  open.forEach((socket) => socket.destroy());
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await fetch(`${server.baseUrl}/livez`)).status, 200, 'a freed connection slot is reused');
});
