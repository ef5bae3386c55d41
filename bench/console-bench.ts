import fs from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { expectStatus, send, type Target } from './http.js';
import { percentile } from './stats.js';

/**
 * The web console's two heaviest pages in Debian's Chromium (playwright-core): the overview with
 * 1,000 states (1 in 20 locked), and the page of a state with 100,000 versions. Each is timed
 * LOADS times two ways: opened in a new tab (a new document, the assets from the browser's cache,
 * timed from the navigation's start), and reached by a link inside the console (timed from the
 * hash change), each until the page shows its data. The floor is the API requests the page
 * makes, sent from Node in parallel over keep-alive connections; and for a new tab, the browser's
 * own cost of one, measured by opening a small JSON document the same way.
 */

const CHROMIUM = '/usr/bin/chromium';
const STATES = 1000;
const LOCKED_EVERY = 20;
const LOADS = 20;
const ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface PageTiming {
  readonly page: string;
  readonly browser: { readonly p50Ms: number; readonly p99Ms: number };
  readonly apiFloor: { readonly p50Ms: number; readonly p99Ms: number };
}

export type ConsoleResult = { readonly skipped: string } | { readonly states: number; readonly pages: readonly PageTiming[] };

const stateDocument = (serial: number, name: string): Buffer =>
  Buffer.from(JSON.stringify({ version: 4, terraform_version: '1.9.8', serial, lineage: `lineage-${name}`, outputs: { name: { value: name, type: 'string' } }, resources: [] }));

const stateName = (i: number) => `fleet/team-${String(Math.floor(i / 50)).padStart(2, '0')}/svc-${String(i).padStart(4, '0')}`;

const seed = async (target: Target): Promise<void> => {
  for (let first = 0; first < STATES; first += 8) {
    await Promise.all(Array.from({ length: Math.min(8, STATES - first) }, async (_, k) => {
      const i = first + k;
      expectStatus(await send(target, 'POST', `/states/${stateName(i)}`, { body: stateDocument(1, stateName(i)), timeoutMs: 30_000 }), 200, `pushing ${stateName(i)}`);
      if (i % LOCKED_EVERY === 0) {
        const lock = Buffer.from(JSON.stringify({ ID: `bench-lock-${i}`, Operation: 'OperationTypeApply', Who: `bench@runner-${i}`, Version: '1.9.8', Created: new Date().toISOString(), Path: '', Info: '' }));
        expectStatus(await send(target, 'POST', `/states/${stateName(i)}/lock`, { body: lock, timeoutMs: 30_000 }), 200, `locking ${stateName(i)}`);
      }
    }));
  }
};

/** The console session the bench's token signs in to. */
const sessionCookie = async (target: Target): Promise<string> => {
  const reply = await send(target, 'POST', '/ui/session', { keepBody: true, timeoutMs: 10_000 });
  expectStatus(reply, 200, 'signing in to the console');
  const cookie = (reply.headers['set-cookie'] ?? [])[0]?.split(';')[0];
  if (cookie === undefined) throw new Error('the console sign-in set no cookie');
  return cookie.slice(cookie.indexOf('=') + 1);
};

const timed = async (run: () => Promise<number>): Promise<{ p50Ms: number; p99Ms: number }> => {
  const samples: number[] = [];
  for (let i = 0; i < LOADS; i++) samples.push(await run());
  return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99) };
};

/** Milliseconds from the navigation's start until `ready` holds in the page. */
const readyAfter = async (page: Page, ready: string): Promise<number> =>
  (await (await page.waitForFunction(`(${ready}) ? performance.now() : false`, undefined, { polling: 'raf', timeout: 30_000 })).jsonValue()) as number;

/** `url` opened in a new tab: a new document, the assets from the browser's cache. */
const freshTab = (newPage: () => Promise<Page>, url: string, ready: string) => async (): Promise<number> => {
  const page = await newPage();
  try {
    await page.goto(url, { waitUntil: 'commit' });
    return await readyAfter(page, ready);
  } finally {
    await page.close();
  }
};

/** `hash` reached by a link inside the console (from `from`), as a user moves between its pages. */
const inApp = (page: Page, from: string, hash: string, ready: string) => async (): Promise<number> => {
  await page.evaluate((to) => void (location.hash = to), from);
  await page.waitForFunction(`!document.querySelector('.loading')`, undefined, { timeout: 30_000 });
  const started = await page.evaluate(() => performance.now());
  await page.evaluate((to) => void (location.hash = to), hash);
  return (await readyAfter(page, ready)) - started;
};

const apiFloor = (target: Target, paths: readonly string[]) => async (): Promise<number> => {
  const started = process.hrtime.bigint();
  await Promise.all(paths.map(async (path) => {
    const reply = await send(target, 'GET', path, { timeoutMs: 30_000 });
    if (reply.status >= 500) throw new Error(`${path}: HTTP ${reply.status}`);
  }));
  return Number(process.hrtime.bigint() - started) / 1e6;
};

/** The state's page asks for its data once it knows the caller's role: two round trips, one after the other. */
const oneAfterTheOther = (first: () => Promise<number>, second: () => Promise<number>) => async (): Promise<number> => (await first()) + (await second());

const NOTHING_LOADING = "!document.querySelector('.loading')";
/** The overview's tree of every state (the bench's others too), with their locks, and who is signed in (its activity panel below loads on its own). */
const OVERVIEW_READY = `Number(document.querySelector('table.states')?.dataset.states) >= ${STATES} && document.querySelector('table.states tbody tr') && document.querySelector('.who').textContent !== ''`;
/** Every section of the state's page shows data. */
const STATE_PAGE_READY = `document.querySelector('table[aria-label=versions] tbody tr') && document.querySelector('table[aria-label="audit trail"] tbody tr') && document.querySelector('[aria-label=lock]') && ${NOTHING_LOADING}`;

export const consoleBench = async (target: Target, bigState: string, log: (line: string) => void): Promise<ConsoleResult> => {
  if (!fs.existsSync(CHROMIUM)) return { skipped: `${CHROMIUM} is not installed (apt-get install chromium)` };
  log(`  pushing ${STATES} states (1 in ${LOCKED_EVERY} locked)`);
  await seed(target);
  const cookie = await sessionCookie(target);
  const base = `http://127.0.0.1:${target.port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    // The readiness checks are evaluated in the page; the console's CSP would refuse them.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
    await context.addCookies([{ name: 'state_ledger_session', value: cookie, url: base }]);
    const newPage = () => context.newPage();
    const big = `/states/${bigState}`;
    const bigHash = `#/states/${encodeURIComponent(bigState)}`;
    const overview = freshTab(newPage, `${base}/ui/#/`, OVERVIEW_READY);
    const statePage = freshTab(newPage, `${base}/ui/${bigHash}`, STATE_PAGE_READY);
    const app = await newPage();
    await app.goto(`${base}/ui/#/locks`);
    // Warm the asset cache and the server's paths once, as a returning user's browser is.
    await overview();
    await statePage();
    // What a new tab costs the browser itself: a small JSON document from the same server, timed the same way.
    const jsonTab = freshTab(newPage, `${base}/ui/session`, `document.body !== null && document.body.textContent.includes('actor')`);
    const pages: PageTiming[] = [
      { page: 'a JSON document (GET /ui/session), new tab', browser: await timed(jsonTab), apiFloor: await timed(apiFloor(target, ['/ui/session'])) },
      { page: `overview, ${STATES} states, new tab`, browser: await timed(overview), apiFloor: await timed(apiFloor(target, ['/ui/session', '/states', '/locks'])) },
      { page: `overview, ${STATES} states, link in the console`, browser: await timed(inApp(app, '#/locks', '#/', OVERVIEW_READY)), apiFloor: await timed(apiFloor(target, ['/states', '/locks'])) },
    ];
    const stateFloor = apiFloor(target, [`${big}/lock`, `${big}/outputs`, `${big}/runs?limit=20`, `${big}/versions?limit=20`, `/resources?state=${bigState}&limit=100`, `${big}/events?order=newest&limit=25`, `${big}/diff`]);
    pages.push(
      { page: `state page, ${bigState}, new tab`, browser: await timed(statePage), apiFloor: await timed(oneAfterTheOther(apiFloor(target, ['/ui/session']), stateFloor)) },
      { page: `state page, ${bigState}, link in the console`, browser: await timed(inApp(app, '#/locks', bigHash, STATE_PAGE_READY)), apiFloor: await timed(stateFloor) },
    );
    return { states: STATES, pages };
  } finally {
    await browser.close();
  }
};
