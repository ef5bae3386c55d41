import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Express } from 'express';
import type { TrafficLimits } from '../config.js';
import type { Logger } from '../logger.js';

const CLIENT_ERRORS: Record<string, { status: number; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: "the request's headers are too large" },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'the request did not arrive in time' },
};
const MALFORMED = { status: 400, message: 'the request is not valid HTTP/1.1' };

/** A JSON answer written straight to a socket, for requests Node hands over before express. */
const rawAnswer = (socket: Duplex, status: number, error: string, message: string): void => {
  const body = JSON.stringify({ error, message });
  socket.write(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
  // Then the connection is closed both ways: nothing more of that request is read.
  (socket as net.Socket).destroySoon();
};

/**
 * Node answers protocol errors (malformed requests, oversized headers, requests too slow to
 * arrive) itself, before express sees them: give those answers the same JSON body as ours.
 */
const jsonClientError = (logger: Logger) => (error: NodeJS.ErrnoException, socket: Duplex) => {
  const inProgress = (socket as Duplex & { _httpMessage?: http.ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent === true) return void socket.destroy();
  const { status, message } = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED;
  logger.info({ code: error.code, status }, 'refused a malformed or slow request');
  rawAnswer(socket, status, status === 408 ? 'request_timeout' : status === 431 ? 'headers_too_large' : 'bad_request', message);
};

/** Node's own bound on a TLS handshake; a client slower than its headers limit gets less. */
const HANDSHAKE_TIMEOUT_MS = 120_000;

/**
 * A handshake the TLS layer refused: a client without a certificate or with one TLS_CLIENT_CA did
 * not issue, plain HTTP sent to the HTTPS port, a handshake too slow. The client's mistake, not ours.
 */
const tlsClientError = (logger: Logger) => (error: NodeJS.ErrnoException & { reason?: unknown }, socket: TLSSocket) => {
  // An untrusted certificate ends the connection without an error of OpenSSL's: the reason is here.
  const verification = (socket as TLSSocket & { authorizationError?: unknown }).authorizationError;
  logger.info(
    {
      code: error.code,
      reason: (typeof error.reason === 'string' ? error.reason : error.message).slice(0, 200),
      ...(verification === undefined || verification === null ? {} : { certificate_error: String(verification).slice(0, 200) }),
      remote_address: socket.remoteAddress,
    },
    'refused a TLS handshake',
  );
  socket.destroy();
};

/**
 * An HTTP server for the app with every connection bounded in time and number; HTTPS with `tls`
 * (from loadTls), with the same bounds and answers. Both are `http.Server`s to the caller: the
 * HTTPS server has every member the callers use (listen, address, close, close*Connections).
 */
export const createHttpServer = (app: Express, limits: TrafficLimits, logger: Logger, tls?: https.ServerOptions): http.Server => {
  // Node looks for requests past their time only this often (30 s by default): often enough for short limits.
  const connectionsCheckingInterval = Math.min(30_000, Math.max(250, Math.floor(Math.min(limits.headersTimeoutMs, limits.uploadTimeoutMs) / 4)));
  // The Host check is ours (guards.ts), so that its refusal is JSON like every other.
  const options: http.ServerOptions = { connectionsCheckingInterval, requireHostHeader: false };
  const server: http.Server =
    tls === undefined
      ? http.createServer(options, app)
      : https.createServer(
          { handshakeTimeout: Math.min(HANDSHAKE_TIMEOUT_MS, limits.headersTimeoutMs, limits.uploadTimeoutMs), ...tls, ...options },
          app,
        );
  if (tls !== undefined) {
    // Node's https passes these on as 'clientError', whose listener (below) would answer them with
    // plain-text HTTP on a connection that never became TLS: they are handled here instead.
    server.removeAllListeners('tlsClientError');
    server.on('tlsClientError', tlsClientError(logger));
  }
  // The whole request (a push of hundreds of MB on a slow link included) must arrive within this.
  server.requestTimeout = limits.uploadTimeoutMs;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.uploadTimeoutMs);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // No traffic either way for this long (a stalled download, a silent client) ends the connection.
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  server.on('clientError', jsonClientError(logger));
  // Out of descriptors (accept EMFILE) and the like: logged, never an uncaught exception.
  server.on('error', (error) => logger.error({ err: error }, 'the HTTP server failed'));
  // Node hands these to listeners, or answers them bare (or not at all) without one.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) =>
    rawAnswer(socket, 405, 'method_not_allowed', 'CONNECT is not supported: this is not a proxy'),
  );
  server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(417, { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff', Connection: 'close' });
    res.end(JSON.stringify({ error: 'expectation_failed', message: 'the only Expect the server understands is 100-continue' }));
  });
  return server;
};

/** Listens on host:port; rejects (EADDRINUSE, say) without leaving anything open. */
export const listenOn = (server: http.Server, port: number, host: string): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
