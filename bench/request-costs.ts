import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import * as E from 'fp-ts/lib/Either.js';
import pg from 'pg';
import { handleCommand } from '../src/commands/handler.js';
import type { LockInfo } from '../src/events/lock-info.js';
import { ledgerStores } from '../src/ledger-stores.js';
import { expectStatus, keepAliveAgent, send, type Target } from './http.js';
import { lockInfoJson, runLoad, serverLockCycle, type Bounds } from './lock-bench.js';
import { readCpuMs, type ServerProcess } from './server-process.js';

/** What one request costs a server, at one client on a keep-alive connection. */
export interface RequestCost {
  readonly what: string;
  readonly requestsPerS: number;
  /** User + system CPU of the serving process per request. */
  readonly cpuMsPerRequest: number;
}

export interface RequestCosts {
  readonly requests: readonly RequestCost[];
  /** The event store alone, in this process (handleCommand on a pool, no HTTP): lock+unlock cycles. */
  readonly storeAlone: { readonly cyclesPerS: number; readonly p50MsPerCycle: number; readonly cpuMsPerCommand: number };
}

const WARMUP: Bounds = { maxCycles: 2_000, maxMs: 1_000 };
const MEASURE: Bounds = { maxCycles: 100_000, maxMs: 3_000 };

const costOf = async (what: string, cpuMs: () => number, op: () => Promise<void>, requestsPerOp = 1): Promise<RequestCost> => {
  await runLoad(1, WARMUP, op);
  const before = cpuMs();
  const load = await runLoad(1, MEASURE, op);
  if (load.errors > 0) throw new Error(`${what}: ${load.firstError}`);
  return { what, requestsPerS: load.cyclesPerS * requestsPerOp, cpuMsPerRequest: (cpuMs() - before) / (load.cycles * requestsPerOp) };
};

/** Node's own HTTP server, and express with one route: what any server on this machine pays per request. */
const BARE_SERVERS: Record<string, string> = {
  'a bare Node http server': `const s = require('node:http').createServer((q, r) => { q.resume(); q.on('end', () => r.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')); });`,
  'a bare express app': `const a = require('express')(); a.get('/livez', (q, r) => r.json({ status: 'ok' })); const s = require('node:http').createServer(a);`,
};

const bareServer = async (repoRoot: string, script: string) => {
  const child = spawn(process.execPath, ['-e', `${script} s.listen(0, '127.0.0.1', () => console.log(s.address().port));`], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bare server exited with ${code}`)));
    readline.createInterface({ input: child.stdout }).once('line', (line) => resolve(Number(line)));
  });
  return { port, pid: child.pid ?? 0, stop: () => child.kill() };
};

const storeAlone = async (databaseUrl: string): Promise<RequestCosts['storeAlone']> => {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    const run = handleCommand(ledgerStores(pool).store);
    const lock = JSON.parse(lockInfoJson().toString('utf8')) as LockInfo;
    const metadata = () => ({ actor: 'token:bench', remoteAddress: '127.0.0.1', userAgent: 'Go-http-client/1.1', requestId: randomUUID(), now: new Date() });
    const cycle = async () => {
      if (E.isLeft(await run('store-alone', { type: 'LockState', lock }, metadata())())) throw new Error('lock refused');
      if (E.isLeft(await run('store-alone', { type: 'UnlockState', presented: lock, mayForce: false }, metadata())())) throw new Error('unlock refused');
    };
    await runLoad(1, WARMUP, cycle);
    const before = process.cpuUsage();
    const load = await runLoad(1, MEASURE, cycle);
    const used = process.cpuUsage(before);
    return { cyclesPerS: load.cyclesPerS, p50MsPerCycle: load.p50Ms, cpuMsPerCommand: (used.user + used.system) / 1000 / (2 * load.cycles) };
  } finally {
    await pool.end();
  }
};

/**
 * Where a lock cycle's time goes, request by request: bare servers, then the real one on paths
 * that go ever deeper (guards, authentication, one query, a command), then the event store alone.
 */
export const requestCosts = async (repoRoot: string, target: Target, server: ServerProcess, databaseUrl: string): Promise<RequestCosts> => {
  const requests: RequestCost[] = [];
  for (const [what, script] of Object.entries(BARE_SERVERS)) {
    const bare = await bareServer(path.resolve(repoRoot), script);
    const agent = keepAliveAgent(1);
    try {
      const bareTarget: Target = { port: bare.port, agent, authorization: '' };
      requests.push(await costOf(what, () => readCpuMs(bare.pid), async () => expectStatus(await send(bareTarget, 'GET', '/livez', { timeoutMs: 5_000 }), 200, what)));
    } finally {
      agent.destroy();
      bare.stop();
    }
  }
  const get = (what: string, url: string, status: number) =>
    costOf(what, () => server.cpuMs(), async () => expectStatus(await send(target, 'GET', url, { timeoutMs: 5_000 }), status, url));
  requests.push(await get('GET /livez (request id, access log, metrics, guards)', '/livez', 200));
  requests.push(await get('a request with a token that matches no route', '/no-such-route', 404));
  requests.push(await get('GET of a state that does not exist (one query)', '/states/request-costs-missing', 404));
  requests.push(await costOf('LOCK and UNLOCK (the mean of the two)', () => server.cpuMs(), () => serverLockCycle(target, () => 'request-costs')(0), 2));
  return { requests, storeAlone: await storeAlone(databaseUrl) };
};
