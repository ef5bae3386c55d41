import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Target } from './http.js';
import { serverLockCycle } from './lock-bench.js';
import type { ServerProcess } from './server-process.js';
import { percentile } from './stats.js';

/**
 * What open event streams (GET /events/stream) cost the server: its memory and CPU with STREAMS
 * streams open, idle and with events flowing, against the same time and the same load without
 * them. The load is paced (a fixed rate of lock+unlock cycles, two events each) so that CPU with
 * and without streams compares like with like. Not a test: it asserts nothing.
 */

export interface StreamBenchOptions {
  readonly streams: number;
  /** How long each CPU window lasts. */
  readonly idleMs: number;
  readonly flowMs: number;
  /** Lock+unlock cycles per second while events flow (two events each). */
  readonly cyclesPerS: number;
  /** Streams whose messages are parsed to time their delivery (the others only counted). */
  readonly sampled: number;
}

export const STREAM_BENCH: StreamBenchOptions = { streams: 1000, idleMs: 15_000, flowMs: 10_000, cyclesPerS: 10, sampled: 20 };

interface Window {
  readonly seconds: number;
  /** Server CPU (user + system), ms per second of wall time. */
  readonly serverCpuMsPerS: number;
  /** Server resident memory at the end of the window, bytes. */
  readonly rss: number;
}

interface Flow extends Window {
  readonly cycles: number;
  readonly events: number;
  /** Messages received across every stream, and their bytes. */
  readonly messages: number;
  readonly bytes: number;
  /** From an event's recorded_at to its arrival at a sampled stream, ms. */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
}

export interface StreamBenchResult {
  readonly streams: number;
  readonly openMs: number;
  readonly rssBefore: number;
  readonly rssOpen: number;
  /** Server memory growth per open stream, bytes. */
  readonly bytesPerStream: number;
  readonly idleWithout: Window;
  readonly idleWith: Window;
  readonly flowWith: Flow;
  readonly flowWithout: Window & { readonly cycles: number };
  readonly errors: readonly string[];
}

interface OpenStream {
  readonly close: () => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens one stream and resolves once its first lines (the starting position) have arrived. */
const openStream = (
  target: Target,
  sampled: boolean,
  counters: { messages: number; bytes: number; latencies: number[]; errors: string[] },
): Promise<OpenStream> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: target.port, path: '/events/stream', headers: { authorization: target.authorization }, agent: false },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`GET /events/stream answered ${res.statusCode}`));
        }
        res.setEncoding('utf8');
        let opened = false;
        let tail = '';
        res.on('data', (chunk: string) => {
          counters.bytes += Buffer.byteLength(chunk);
          const text = tail + chunk;
          // Messages are counted by their data lines; a line cut between chunks is kept for the next.
          const cut = text.lastIndexOf('\n');
          tail = text.slice(cut + 1);
          const whole = text.slice(0, cut + 1);
          for (let at = whole.indexOf('data: '); at >= 0; at = whole.indexOf('data: ', at + 6)) {
            counters.messages++;
            if (sampled) {
              const end = whole.indexOf('\n', at);
              const recorded = (JSON.parse(whole.slice(at + 6, end)) as { recorded_at: string }).recorded_at;
              counters.latencies.push(Date.now() - Date.parse(recorded));
            }
          }
          if (!opened && whole.includes('id: ')) {
            opened = true;
            resolve({ close: () => req.destroy() });
          }
        });
        res.once('close', () => {
          if (!opened) reject(new Error('a stream ended before it opened'));
        });
      },
    );
    req.once('error', (error) => {
      if (counters.errors.length < 5) counters.errors.push(error.message);
      reject(error);
    });
    req.end();
  });

/** Server CPU per second over `ms` while `during` runs (or idles). */
const cpuWindow = async (server: ServerProcess, ms: number, during: () => Promise<unknown> = () => sleep(ms)): Promise<Window> => {
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  await during();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, serverCpuMsPerS: (server.cpuMs() - cpu0) / seconds, rss: server.memory().rss };
};

/** Lock+unlock cycles at a fixed pace for `ms`, on a handful of states; answers the cycles done. */
const pacedLoad = async (target: Target, cyclesPerS: number, ms: number, errors: string[]): Promise<number> => {
  // A state of its own per cycle: a slow cycle never finds the next one's lock held.
  const cycle = serverLockCycle(target, (client) => `stream-bench-${client}`);
  const interval = 1000 / cyclesPerS;
  const begin = performance.now();
  const running: Array<Promise<void>> = [];
  let done = 0;
  for (let i = 0; performance.now() - begin < ms; i++) {
    const due = begin + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    running.push(
      cycle(i).then(
        () => void done++,
        (error: Error) => void (errors.length < 5 && errors.push(error.message)),
      ),
    );
  }
  await Promise.all(running);
  return done;
};

export const streamBench = async (
  target: Target,
  server: ServerProcess,
  log: (line: string) => void,
  options: StreamBenchOptions = STREAM_BENCH,
): Promise<StreamBenchResult> => {
  const counters = { messages: 0, bytes: 0, latencies: [] as number[], errors: [] as string[] };
  const errors: string[] = [];
  // Warm the server's paths once, so that the first window does not pay for it.
  await pacedLoad(target, options.cyclesPerS, 1000, errors);
  await sleep(1000);
  const idleWithout = await cpuWindow(server, Math.min(options.idleMs, 5000));
  const flowWithoutStreams = async () => pacedLoad(target, options.cyclesPerS, options.flowMs, errors);
  let cyclesWithout = 0;
  const flowWithoutWindow = await cpuWindow(server, options.flowMs, async () => {
    cyclesWithout = await flowWithoutStreams();
    await sleep(500); // as the window with streams waits for its last events
  });
  await sleep(1000);

  const rssBefore = server.memory().rss;
  log(`  opening ${options.streams} streams`);
  const t0 = performance.now();
  const streams: OpenStream[] = [];
  const BATCH = 50;
  for (let i = 0; i < options.streams; i += BATCH) {
    const count = Math.min(BATCH, options.streams - i);
    streams.push(...(await Promise.all(Array.from({ length: count }, (_, j) => openStream(target, i + j < options.sampled, counters)))));
  }
  const openMs = performance.now() - t0;
  try {
    await sleep(2000);
    const rssOpen = server.memory().rss;
    log(`  ${options.streams} streams idle for ${options.idleMs / 1000} s`);
    const idleWith = await cpuWindow(server, options.idleMs);

    log(`  events flowing: ${options.cyclesPerS} lock+unlock cycles/s for ${options.flowMs / 1000} s`);
    const messages0 = counters.messages;
    const bytes0 = counters.bytes;
    counters.latencies.length = 0;
    let cycles = 0;
    const flowWindow = await cpuWindow(server, options.flowMs, async () => {
      cycles = await pacedLoad(target, options.cyclesPerS, options.flowMs, errors);
      await sleep(500); // the last events on their way
    });
    const flowWith: Flow = {
      ...flowWindow,
      cycles,
      events: cycles * 2,
      messages: counters.messages - messages0,
      bytes: counters.bytes - bytes0,
      latencyP50Ms: percentile(counters.latencies, 50),
      latencyP99Ms: percentile(counters.latencies, 99),
    };
    return {
      streams: streams.length,
      openMs,
      rssBefore,
      rssOpen,
      bytesPerStream: (rssOpen - rssBefore) / streams.length,
      idleWithout,
      idleWith,
      flowWith,
      flowWithout: { ...flowWithoutWindow, cycles: cyclesWithout },
      errors: [...errors, ...counters.errors],
    };
  } finally {
    for (const stream of streams) stream.close();
  }
};

/** Rows for the bench table: label, with streams, without, difference. */
export const streamRows = (r: StreamBenchResult, num: (value: number) => string, MiB: number): string[][] => [
  [`${r.streams} open event streams (GET /events/stream), server`, 'with', 'without', 'difference'],
  ['  memory RSS, MiB', num(r.rssOpen / MiB), num(r.rssBefore / MiB), num((r.rssOpen - r.rssBefore) / MiB)],
  ['  memory per stream, KiB', num(r.bytesPerStream / 1024)],
  [`  opening them, s (50 at a time)`, num(r.openMs / 1000)],
  ['  idle: CPU ms per s', num(r.idleWith.serverCpuMsPerS), num(r.idleWithout.serverCpuMsPerS), num(r.idleWith.serverCpuMsPerS - r.idleWithout.serverCpuMsPerS)],
  [
    `  ${num(r.flowWith.events / r.flowWith.seconds)} events/s flowing: CPU ms per s`,
    num(r.flowWith.serverCpuMsPerS),
    num(r.flowWithout.serverCpuMsPerS),
    num(r.flowWith.serverCpuMsPerS - r.flowWithout.serverCpuMsPerS),
  ],
  ['  messages delivered per s (all streams)', num(r.flowWith.messages / r.flowWith.seconds)],
  ['  CPU per message delivered, µs', num(((r.flowWith.serverCpuMsPerS - r.flowWithout.serverCpuMsPerS) * 1000) / Math.max(1, r.flowWith.messages / r.flowWith.seconds))],
  ['  delivery, recorded_at to arrival, p50 | p99 ms', `${num(r.flowWith.latencyP50Ms)} | ${num(r.flowWith.latencyP99Ms)}`],
];
