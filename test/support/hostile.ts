import net from 'node:net';
import type { Test } from 'tap';
import { basicAuth, PASSWORD, USER } from './server.js';

/**
 * Raw HTTP/1.1 over a socket, for requests fetch refuses to send: bad framing, odd methods, raw
 * bytes in the request target, broken headers, stalled or abandoned bodies, chosen source addresses.
 */

export interface HostileRequest {
  /** Written as is (default GET). */
  readonly method?: string;
  /** The request target, written as is: a JS string's code units 0-255 go out as single bytes (default /). */
  readonly path?: string;
  /** Extra header lines, written as is (latin1), in order. */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: string | Buffer;
  /** The Authorization value: alice's by default, null for none. */
  readonly auth?: string | null;
  /** The Content-Length line: the body's length by default (when there is a body), null for none. */
  readonly contentLength?: string | null;
  /** The Host line: the server's by default, null for none. */
  readonly host?: string | null;
  /** The whole message instead, written as is. */
  readonly raw?: Buffer | string;
  /** Write only this many bytes of the body, then stay silent (a stalled client). */
  readonly stallAfter?: number;
  /** Write only this many bytes of the body, then go away (a client dropping the upload). */
  readonly abortAfter?: number;
  /** The source address of the connection (any of 127.0.0.0/8 reaches a server on 127.0.0.1). */
  readonly localAddress?: string;
}

export interface RawReply {
  /** 0 when nothing (or nothing parseable) came back. */
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The body parsed as JSON, undefined when it is not JSON. */
  readonly json: unknown;
  /** The server closed the connection. */
  readonly closed: boolean;
}

export const ALICE = basicAuth(USER, PASSWORD);

/** What an error message must never look like: a codec, parser or stack dump. */
export const DUMP = /Invalid value|supplied to|io-ts|PathReporter|entity\.parse|SyntaxError|at position|Unexpected token|chunk position|in state|\bat \/|node_modules|\.ts:|\.js:/;
/** A stack frame line. */
export const STACK = /\n\s*at |\bat [A-Za-z_$.]+ \(/;

const CRLF = '\r\n';

/** The head and body of a request as bytes. */
export const messageOf = (request: HostileRequest, host: string): { head: Buffer; body: Buffer } => {
  if (request.raw !== undefined) return { head: Buffer.from(request.raw as string, typeof request.raw === 'string' ? 'latin1' : undefined), body: Buffer.alloc(0) };
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  const lines = [`${request.method ?? 'GET'} ${request.path ?? '/'} HTTP/1.1`];
  const hostLine = request.host === undefined ? host : request.host;
  if (hostLine !== null) lines.push(`Host: ${hostLine}`);
  const auth = request.auth === undefined ? ALICE : request.auth;
  if (auth !== null) lines.push(`Authorization: ${auth}`);
  for (const [name, value] of request.headers ?? []) lines.push(`${name}: ${value}`);
  const length = request.contentLength === undefined ? (request.body === undefined ? null : String(body.length)) : request.contentLength;
  if (length !== null) lines.push(`Content-Length: ${length}`);
  lines.push('Connection: close');
  return { head: Buffer.from(lines.join(CRLF) + CRLF + CRLF, 'latin1'), body };
};

const parseHead = (head: string): { status: number; headers: Record<string, string> } => {
  const [statusLine = '', ...lines] = head.split(CRLF);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status, headers };
};

/** Decodes a chunked body; undefined until the last chunk has arrived. */
const dechunk = (data: Buffer): Buffer | undefined => {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return Buffer.concat(parts);
    if (size === 0) return Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
};

const parseJson = (body: Buffer): unknown => {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
};

/** The first final (non-1xx) response in `data`; undefined while incomplete (unless `ended`). */
const parseResponse = (data: Buffer, ended: boolean): Omit<RawReply, 'closed'> | undefined => {
  let start = 0;
  for (;;) {
    const end = data.indexOf(CRLF + CRLF, start);
    if (end < 0) return ended ? { status: 0, headers: {}, body: data.subarray(start), json: undefined } : undefined;
    const { status, headers } = parseHead(data.subarray(start, end).toString('latin1'));
    const rest = data.subarray(end + 4);
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    let body: Buffer | undefined;
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = rest.length >= length ? rest.subarray(0, length) : ended ? rest : undefined;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      body = dechunk(rest) ?? (ended ? rest : undefined);
    } else if (status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else {
      body = ended ? rest : undefined;
    }
    return body === undefined ? undefined : { status, headers, body, json: parseJson(body) };
  }
};

/**
 * Sends one request on a fresh connection and reads the answer: until the response is complete,
 * the server closes, or `waitMs` passes (then whatever arrived, status 0 if nothing).
 */
export const sendRaw = (baseUrl: string, request: HostileRequest, waitMs = 10_000): Promise<RawReply> =>
  new Promise((resolve) => {
    const { hostname, port, host } = new URL(baseUrl);
    const { head, body } = messageOf(request, host);
    const socket = net.connect({ port: Number(port), host: hostname, ...(request.localAddress === undefined ? {} : { localAddress: request.localAddress }) });
    let data = Buffer.alloc(0);
    let closed = false;
    let done = false;
    const finish = (ended: boolean) => {
      if (done) return;
      const reply = parseResponse(data, ended);
      if (reply === undefined) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...reply, closed });
    };
    const timer = setTimeout(() => finish(true), waitMs);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      finish(false);
    });
    socket.on('end', () => {
      closed = true;
      finish(true);
    });
    socket.on('close', () => {
      closed = true;
      finish(true);
    });
    socket.on('error', () => {
      closed = true;
    });
    socket.on('connect', () => {
      if (request.abortAfter !== undefined) {
        socket.write(Buffer.concat([head, body.subarray(0, request.abortAfter)]));
        setTimeout(() => socket.destroy(), 100);
        return;
      }
      socket.write(Buffer.concat([head, request.stallAfter === undefined ? body : body.subarray(0, request.stallAfter)]));
    });
  });

/**
 * One subtest per hostile case: its answer checked, then nothing changed since the previous case
 * (as `snapshot` sees it), then the server still serving.
 */
export const runHostileCases = <C extends { readonly kind: string; readonly request: HostileRequest; readonly waitMs?: number }>(
  t: Test,
  group: string,
  baseUrl: string,
  cases: readonly C[],
  hooks: {
    readonly snapshot: () => Promise<unknown>;
    readonly check: (t: Test, reply: RawReply, c: C) => void;
    /** What "nothing changed" covers, for the assertion's message. */
    readonly unchanged: string;
    readonly stillServing: (t: Test) => Promise<void>;
  },
) =>
  t.test(group, async (t) => {
    let before = await hooks.snapshot();
    for (const c of cases) {
      await t.test(c.kind, async (t) => {
        const reply = await sendRaw(baseUrl, c.request, c.waitMs);
        hooks.check(t, reply, c);
        const after = await hooks.snapshot();
        t.strictSame(after, before, `nothing changed: ${hooks.unchanged}`);
        before = after;
      });
    }
    await hooks.stillServing(t);
  });

/** An exact answer (status, content type, body), or only its status. */
export type ExpectedAnswer = { readonly status: number; readonly type: string | null; readonly body: string } | { readonly status: number };

/** The answer as expected (an error answered only by status must still be JSON), and never a dump or a stack. */
export const checkAnswer = (t: Test, reply: RawReply, expect: ExpectedAnswer): void => {
  const text = reply.body.toString('utf8');
  if ('body' in expect) {
    t.strictSame({ status: reply.status, type: reply.headers['content-type'] ?? null, body: text }, expect, 'the exact answer');
  } else {
    t.equal(reply.status, expect.status, `status: ${text.slice(0, 300)}`);
    if (reply.status >= 400) t.match(reply.json, { error: String, message: String }, 'a JSON error');
  }
  t.notMatch(text, DUMP, 'no codec or parser dump');
  t.notMatch(text, STACK, 'no stack');
};
