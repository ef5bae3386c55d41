import { createHash } from 'node:crypto';
import http from 'node:http';

/** A keep-alive connection pool to the server, so connection setup is not part of what is measured. */
export const keepAliveAgent = (maxSockets: number): http.Agent =>
  new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });

export interface Target {
  readonly port: number;
  readonly agent: http.Agent;
  readonly authorization: string;
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The body when keepBody was asked for (small replies), else empty. */
  readonly body: Buffer;
  readonly bytes: number;
}

export const basicAuth = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export const md5Base64 = (data: Buffer): string => createHash('md5').update(data).digest('base64');

/**
 * One request as Terraform's http backend client sends it: a body always comes with
 * Content-Type: application/json and a base64 Content-MD5 (pass it precomputed for large bodies).
 * The reply body is drained; kept only when keepBody is set.
 */
export const send = (
  target: Target,
  method: string,
  path: string,
  options: { body?: Buffer; md5?: string; keepBody?: boolean; timeoutMs: number },
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization: target.authorization, 'user-agent': 'Go-http-client/1.1' };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-md5'] = options.md5 ?? md5Base64(options.body);
      headers['content-length'] = options.body.length;
    }
    const req = http.request({ host: '127.0.0.1', port: target.port, method, path, headers, agent: target.agent }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.keepBody === true) chunks.push(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }));
      res.once('error', reject);
    });
    req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`${method} ${path} took more than ${options.timeoutMs} ms`)));
    req.once('error', reject);
    req.end(options.body);
  });

/** Throws with the status and the start of the body unless the reply is the expected status. */
export const expectStatus = (reply: Reply, expected: number, what: string): void => {
  if (reply.status !== expected) {
    throw new Error(`${what}: HTTP ${reply.status} ${reply.body.subarray(0, 300).toString('utf8')}`);
  }
};

/**
 * A target signed in as a pipeline is in production: an API token of its own (admin on *),
 * created through the server's development user `bench`, looked up in PostgreSQL on every request.
 */
export const tokenTarget = async (port: number, sockets: number): Promise<Target> => {
  const developer: Target = { port, agent: keepAliveAgent(2), authorization: basicAuth('bench', 'bench') };
  const created = await send(developer, 'POST', '/access/tokens', { body: Buffer.from(JSON.stringify({ name: 'bench' })), keepBody: true, timeoutMs: 10_000 });
  expectStatus(created, 201, 'creating the bench token');
  const granted = await send(developer, 'POST', '/access/grants', { body: Buffer.from(JSON.stringify({ role: 'admin', subject: 'token:bench', glob: '*' })), timeoutMs: 10_000 });
  expectStatus(granted, 200, 'granting the bench token');
  const secret = (JSON.parse(created.body.toString('utf8')) as { secret: string }).secret;
  return { port, agent: keepAliveAgent(sockets), authorization: `Bearer ${secret}` };
};
