import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import express from 'express';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { createHttpServer, listenOn } from '../../src/http/server.js';
import { clientCertificateName, loadTls } from '../../src/http/tls.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { makeCertificates, type CertificatePair } from '../support/certificates.js';
import { serveApp, TRAFFIC } from '../support/server.js';

const whoami = () => {
  const app = express();
  app.get('/whoami', (req, res) => {
    res.json({ name: clientCertificateName(req) ?? null });
  });
  return app;
};

/** Serves the whoami app until the test ends; answers the server and its port. */
const serve = (t: Test, tls?: https.ServerOptions, logger: Logger = createLogger('silent')) => serveApp(t, whoami(), { tls, logger });

interface Outcome {
  readonly status?: number;
  readonly body?: unknown;
  /** Why the request failed: the connection was refused or dropped. */
  readonly error?: string;
}

/** One HTTPS request on a connection of its own (no agent: every request makes a handshake). */
const get = (port: number, ca: string, client?: CertificatePair, extra: https.RequestOptions = {}): Promise<Outcome> =>
  new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/whoami', ca, agent: false, ...(client === undefined ? {} : { cert: client.cert, key: client.key }), ...extra },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) as unknown }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.end();
  });

/** A refusal: no HTTP answer at all, the connection failed. */
const refused = (t: Test, outcome: Outcome, what: string) => {
  t.strictSame(outcome.status, undefined, `${what}: no HTTP answer`);
  t.strictSame(typeof outcome.error, 'string', `${what}: a connection error (${outcome.error})`);
};

/** Log lines, parsed, from a pino logger at info. */
const capturingLogger = () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter((l) => l !== '')) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
};

t.test('TLS without a client CA serves HTTPS to anyone', async (t) => {
  const certs = await makeCertificates(t);
  const options = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile });
  t.strictSame(options, { cert: certs.server.cert, key: certs.server.key, minVersion: 'TLSv1.2' }, 'no client certificates asked');
  const { port } = await serve(t, options);
  t.strictSame(await get(port, certs.ca.cert), { status: 200, body: { name: null } }, 'no certificate: served, no name');
  t.strictSame(await get(port, certs.ca.cert, certs.client), { status: 200, body: { name: null } }, 'a certificate is not asked for, so not used');
  t.strictSame(await get(port, certs.ca.cert, certs.untrustedClient), { status: 200, body: { name: null } }, 'nor refused');
  t.strictSame(
    await get(port, certs.ca.cert, undefined, { host: 'localhost' }),
    { status: 200, body: { name: null } },
    'the certificate is valid for localhost too',
  );
  refused(t, await get(port, certs.untrustedClient.cert), 'a client that does not trust the server CA');
});

t.test('with a client CA, only certificates it issued get in, and their CN is the name', async (t) => {
  const certs = await makeCertificates(t);
  const options = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.ca.certFile });
  t.strictSame(
    options,
    { cert: certs.server.cert, key: certs.server.key, minVersion: 'TLSv1.2', ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true },
    'client certificates required and checked against the CA',
  );
  const { logger, lines } = capturingLogger();
  const { server, port } = await serve(t, options, logger);
  const ca = certs.ca.cert;

  t.strictSame(await get(port, ca, certs.client), { status: 200, body: { name: 'alice' } }, 'a trusted certificate: its CN');
  const bob = await certs.issueClient('/O=acme/OU=ops/CN=bob');
  t.strictSame(await get(port, ca, bob), { status: 200, body: { name: 'bob' } }, 'the CN, whatever else the subject holds');

  refused(t, await get(port, ca), 'no certificate (TLS 1.3)');
  refused(t, await get(port, ca, undefined, { maxVersion: 'TLSv1.2' }), 'no certificate (TLS 1.2)');
  refused(t, await get(port, ca, certs.untrustedClient), 'a certificate of another CA (TLS 1.3)');
  refused(t, await get(port, ca, certs.untrustedClient, { maxVersion: 'TLSv1.2' }), 'a certificate of another CA (TLS 1.2)');
  refused(t, await get(port, ca, certs.ca), 'the CA certificate itself, not issued for a client');
  refused(t, await get(port, ca, undefined, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS older than 1.2');

  t.strictSame(await get(port, ca, certs.client, { maxVersion: 'TLSv1.2' }), { status: 200, body: { name: 'alice' } }, 'still serving, TLS 1.2');
  t.strictSame(await get(port, ca, certs.client), { status: 200, body: { name: 'alice' } }, 'still serving after the refusals');
  t.strictSame(server.listening, true);
  const refusals = lines.filter((line) => line.msg === 'refused a TLS handshake');
  t.strictSame(refusals.length, 6, 'every refusal is logged');
  t.strictSame(
    refusals.every((line) => line.level === 30),
    true,
    'at info',
  );
  t.strictSame(
    refusals.filter((line) => line.certificate_error !== undefined).map((line) => line.certificate_error),
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'INVALID_PURPOSE'],
    'with why a certificate was not trusted',
  );
  t.strictSame(
    lines.filter((line) => line.msg === 'refused a malformed or slow request'),
    [],
    'a refused handshake is not taken for a malformed HTTP request',
  );
});

t.test('the CN only when it is a plausible name', async (t) => {
  const certs = await makeCertificates(t);
  const options = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.ca.certFile });
  const { port } = await serve(t, options);
  const nameOf = async (subject: string) => (await get(port, certs.ca.cert, await certs.issueClient(subject))).body;
  t.strictSame(await nameOf('/CN=José Ñandú'), { name: 'José Ñandú' }, 'UTF-8 is fine');
  t.strictSame(await nameOf('/CN=ops\\, team=1'), { name: 'ops, team=1' }, 'DN punctuation is part of the value');
  t.strictSame(await nameOf('/O=acme'), { name: null }, 'no CN: no name');
  t.strictSame(await nameOf('/CN=alice/CN=bob'), { name: null }, 'two CNs: no name rather than a guess');
  t.strictSame(await nameOf(`/CN=${'a'.repeat(64)}`), { name: 'a'.repeat(64) }, 'as long as a CN may be');
});

t.test('clientCertificateName bounds what it answers', async (t) => {
  /** A socket as the TLS layer would leave it, with this subject. */
  const socket = (authorized: boolean, subject: Record<string, unknown> | undefined) => {
    const fake = Object.create(tls.TLSSocket.prototype) as tls.TLSSocket;
    Object.defineProperty(fake, 'authorized', { value: authorized });
    Object.defineProperty(fake, 'getPeerCertificate', { value: () => (subject === undefined ? {} : { subject }) });
    return { socket: fake };
  };
  t.strictSame(clientCertificateName(socket(true, { CN: 'alice' })), 'alice');
  t.strictSame(clientCertificateName(socket(false, { CN: 'alice' })), undefined, 'not verified');
  t.strictSame(clientCertificateName(socket(true, undefined)), undefined, 'no certificate');
  t.strictSame(clientCertificateName(socket(true, { CN: 'x'.repeat(128) })), 'x'.repeat(128), '128 characters');
  t.strictSame(clientCertificateName(socket(true, { CN: 'x'.repeat(129) })), undefined, '129 characters');
  t.strictSame(clientCertificateName(socket(true, { CN: 'é'.repeat(128) })), 'é'.repeat(128), 'counted in characters');
  t.strictSame(clientCertificateName(socket(true, { CN: 'ali\nce' })), undefined, 'a newline');
  t.strictSame(clientCertificateName(socket(true, { CN: 'ali\u0000ce' })), undefined, 'a NUL');
  t.strictSame(clientCertificateName(socket(true, { CN: 'ali\u202Ece' })), undefined, 'a bidi override');
  t.strictSame(clientCertificateName(socket(true, { CN: '' })), undefined, 'empty');
  t.strictSame(clientCertificateName(socket(true, { CN: ' alice' })), undefined, 'a leading space');
  t.strictSame(clientCertificateName(socket(true, { CN: 'alice smith' })), 'alice smith', 'an inner space');
  t.strictSame(clientCertificateName(socket(true, { CN: ['alice', 'bob'] })), undefined, 'several CNs');
  t.strictSame(clientCertificateName({ socket: undefined }), undefined, 'no socket');
  t.strictSame(clientCertificateName({ socket: { authorized: true } }), undefined, 'not a TLS socket');
});

t.test('plain HTTP: no name; plain HTTP to the HTTPS port: no answer', async (t) => {
  const certs = await makeCertificates(t);
  const plain = await serve(t);
  const res = await fetch(`http://127.0.0.1:${plain.port}/whoami`);
  t.strictSame({ status: res.status, body: await res.json() }, { status: 200, body: { name: null } });

  const options = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile, clientCaFile: certs.ca.certFile });
  const { port } = await serve(t, options);
  const outcome = await new Promise<Outcome>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/whoami', agent: false }, (r) => {
      r.resume();
      resolve({ status: r.statusCode });
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
  });
  t.not(outcome.status, 200, `no 200 (${JSON.stringify(outcome)})`);
  t.strictSame(await get(port, certs.ca.cert, certs.client), { status: 200, body: { name: 'alice' } }, 'still serving');
});

t.test('the HTTPS server has the bounds and answers of the HTTP one', async (t) => {
  const certs = await makeCertificates(t);
  const options = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile });
  const traffic = { ...TRAFFIC, headersTimeoutMs: 5_000 };
  const bounds = (server: http.Server) => ({
    requestTimeout: server.requestTimeout,
    headersTimeout: server.headersTimeout,
    keepAliveTimeout: server.keepAliveTimeout,
    timeout: server.timeout,
    maxConnections: server.maxConnections,
    listeners: ['clientError', 'connect', 'checkExpectation', 'error'].map((event) => server.listenerCount(event)),
  });
  const plain = createHttpServer(whoami(), traffic, createLogger('silent'));
  const secure = createHttpServer(whoami(), traffic, createLogger('silent'), options);
  t.strictSame(bounds(secure), bounds(plain));
  t.strictSame(plain.listenerCount('tlsClientError'), 0, 'nothing TLS on plain HTTP');
  t.strictSame(secure.listenerCount('tlsClientError'), 1);

  // Requests Node refuses before express still get JSON, over TLS.
  const { port } = await serve(t, options);
  const raw = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.ca.cert }, () => socket.end(request));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
  const malformed = await raw('NOT HTTP AT ALL\r\n\r\n');
  t.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.strictSame(JSON.parse(malformed.slice(malformed.indexOf('\r\n\r\n') + 4)), { error: 'bad_request', message: 'the request is not valid HTTP/1.1' });
  const connect = await raw('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  t.match(connect, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
});

t.test('a TLS handshake is bounded in time as headers are', async (t) => {
  const certs = await makeCertificates(t);
  const options = await loadTls({ certFile: certs.server.certFile, keyFile: certs.server.keyFile });
  const server = createHttpServer(whoami(), { ...TRAFFIC, headersTimeoutMs: 500 }, createLogger('silent'), options);
  await listenOn(server, 0, '127.0.0.1');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const started = Date.now();
  // A client that connects and never starts the handshake (Node's own bound is 120 s).
  const closed = await new Promise<boolean>((resolve) => {
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(true));
    setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 10_000).unref();
  });
  t.strictSame(closed, true, `closed by the server after ${Date.now() - started} ms`);
});

t.test('loadTls names the variable and the path of a bad file', async (t) => {
  const certs = await makeCertificates(t);
  const missing = path.join(certs.dir, 'missing.pem');
  const notPem = path.join(certs.dir, 'not.pem');
  await fs.writeFile(notPem, 'hello\n');
  const { certFile, keyFile } = certs.server;
  const message = async (settings: Parameters<typeof loadTls>[0]) => {
    try {
      await loadTls(settings);
      return 'no error';
    } catch (error) {
      return (error as Error).message;
    }
  };
  t.strictSame(await message({ certFile: missing, keyFile }), `TLS_CERT: ${missing} does not exist`);
  t.strictSame(await message({ certFile, keyFile: missing }), `TLS_KEY: ${missing} does not exist`);
  t.strictSame(await message({ certFile, keyFile, clientCaFile: missing }), `TLS_CLIENT_CA: ${missing} does not exist`);
  t.strictSame(await message({ certFile: certs.dir, keyFile }), `TLS_CERT: ${certs.dir} is a directory, not a file`);
  t.strictSame(await message({ certFile: notPem, keyFile }), `TLS_CERT: ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  t.strictSame(await message({ certFile, keyFile: notPem }), `TLS_KEY: ${notPem} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`);
  t.strictSame(await message({ certFile, keyFile: certFile }), `TLS_KEY: ${certFile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`);
  t.strictSame(await message({ certFile: keyFile, keyFile }), `TLS_CERT: ${keyFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  t.strictSame(
    await message({ certFile, keyFile, clientCaFile: notPem }),
    `TLS_CLIENT_CA: ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
  );
  t.strictSame(
    await message({ certFile, keyFile: certs.client.keyFile }),
    `TLS_KEY: ${certs.client.keyFile} is not the private key of the certificate in TLS_CERT (${certFile})`,
  );
  t.strictSame(
    await message({ certFile, keyFile, clientCaFile: certs.client.certFile }),
    `TLS_CLIENT_CA: ${certs.client.certFile} holds no CA certificate (basicConstraints CA:TRUE)`,
  );
  const broken = path.join(certs.dir, 'broken.pem');
  await fs.writeFile(broken, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
  t.strictSame(await message({ certFile: broken, keyFile }), `TLS_CERT: ${broken} holds a PEM certificate that does not parse (certificate 1)`);
  if (process.getuid?.() !== 0) {
    const unreadable = path.join(certs.dir, 'unreadable.pem');
    await fs.writeFile(unreadable, certs.server.key, { mode: 0o000 });
    t.strictSame(await message({ certFile, keyFile: unreadable }), `TLS_KEY: ${unreadable} is not readable (permission denied)`);
  }
  t.strictSame((await message({ certFile: missing, keyFile })).includes('\n'), false, 'one line');
  // A CA bundle and a chain are fine.
  const bundle = path.join(certs.dir, 'bundle.pem');
  await fs.writeFile(bundle, certs.client.cert + certs.ca.cert);
  t.strictSame(await message({ certFile, keyFile, clientCaFile: bundle }), 'no error', 'a bundle with a CA in it');
  const chain = path.join(certs.dir, 'chain.pem');
  await fs.writeFile(chain, certs.server.cert + certs.ca.cert);
  t.strictSame(await message({ certFile: chain, keyFile }), 'no error', 'the server certificate followed by its chain');
});
