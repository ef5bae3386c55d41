import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Test } from 'tap';
import type { TestServer } from './server.js';

/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core. Tests find
 * things as a person would (by role and visible text) and save each page as a screenshot under
 * test-results/console/.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(import.meta.dirname, '..', '..', 'test-results', 'console');
// Without the background-networking flags Chromium keeps trying to reach Google's hosts.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-features=BackForwardCache'];

export const launch = async (t: Test): Promise<Browser> => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.teardown(() => browser.close());
  return browser;
};

/** A fresh page (and cookie jar) at 1280x800. */
export const freshPage = async (browser: Browser): Promise<Page> => (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();

const focusedBy = (by: 'name' | 'text') => {
  const element = document.activeElement;
  return (by === 'name' ? element?.getAttribute('name') : element?.textContent) ?? null;
};

/**
 * What `read` answers once it answers `expected`, or after 5 s what it answers instead: the console
 * renders what an action changed a moment after the action has returned (a fetch, an effect).
 */
export const settled = async <A>(read: () => Promise<A>, expected: A): Promise<A> => {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const actual = await read();
    if (isDeepStrictEqual(actual, expected) || Date.now() > deadline) return actual;
    await sleep(20);
  }
};

/** The focused element's name or text, once settled (the console moves focus in an effect). */
export const settledFocus = (page: Page, by: 'name' | 'text', expected: string): Promise<string | null> => settled(() => page.evaluate(focusedBy, by), expected);

export const screenshot = async (page: Page, name: string) => {
  await fs.mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
};

export const signInWithPassword = async (page: Page, server: TestServer, user: string, password: string) => {
  await page.goto(`${server.baseUrl}/`);
  await page.getByLabel('User', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
};

export const signInWithToken = async (page: Page, server: TestServer, token: string) => {
  await page.goto(`${server.baseUrl}/ui/`);
  await page.getByLabel('API token', { exact: true }).fill(token);
  await page.getByRole('button', { name: 'Use token' }).click();
};

export const tokenWith = async (server: TestServer, name: string, grants: ReadonlyArray<readonly [string, string]>): Promise<string> => {
  const call = async (p: string, body: unknown) => {
    const reply = await server.request(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (reply.status >= 300) throw new Error(`${p}: ${reply.status} ${await reply.text()}`);
    return (await reply.json()) as Record<string, unknown>;
  };
  const secret = String((await call('/access/tokens', { name })).secret);
  for (const [role, glob] of grants) await call('/access/grants', { role, subject: `token:${name}`, glob });
  return secret;
};
