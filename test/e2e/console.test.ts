import fs from 'node:fs/promises';
import t from 'tap';
import { createLogger } from '../../src/logger.js';
import { asyncProjections } from '../../src/projections/async/projections.js';
import { freshPage, launch, screenshot, settled, signInWithPassword, signInWithToken, tokenWith } from '../support/console.js';
import { richState } from '../support/contents-states.js';
import { defaultClient, newLockInfo } from '../support/go-client.js';
import { caughtUp, runner, waitFor } from '../support/projections.js';
import { PASSWORD, startServer, USER } from '../support/server.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

t.test('the web console in Chromium', async (t) => {
  const server = await startServer(t);
  await runner(t, { url: server.db.url, blobs: server.blobs, logger, projections: asyncProjections, settings: { coalesceMs: 10 } });
  // Data written as Terraform writes it: two versions under a lock, a nested name, a lock held.
  const web = defaultClient(server.baseUrl, 'team-a/prod/web');
  t.ok((await web.lock(newLockInfo({ Operation: 'OperationTypeApply', Who: 'ci@runner-1' }))).locked);
  t.equal((await web.put(richState(1))).status, 200);
  t.equal((await web.put(richState(2, { bucket: 'renamed-bucket' }))).status, 200);
  t.equal((await web.unlock()).status, 200);
  const network = defaultClient(server.baseUrl, 'team-a/prod/network');
  t.equal((await network.put(richState(1))).status, 200);
  t.ok((await network.lock(newLockInfo({ Operation: 'OperationTypePlan', Who: 'bob@laptop' }))).locked, 'a lock left held');
  await waitFor('the projections', () => caughtUp(server.db.pool, asyncProjections.map((p) => p.name)));
  const browser = await launch(t);

  t.test('a wrong password is said in words; the right one opens the overview', async (t) => {
    const page = await freshPage(browser);
    await signInWithPassword(page, server, USER, 'not the password');
    await page.getByRole('alert').getByText('the credentials were refused: the user name or password is wrong').waitFor();
    await screenshot(page, 'sign-in-refused');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'States' }).waitFor();
    t.equal(await page.getByTitle('signed in as').textContent(), 'user:alice', 'who is signed in');
    const rows = page.getByRole('row');
    t.strictSame(
      (await rows.allInnerTexts()).map((text) => text.split('\t')[0]?.trim()),
      ['State', 'team-a/', 'prod/', 'network', 'web'],
      'the states as a tree of nested names',
    );
    const locked = await page.getByRole('row', { name: /network/ }).innerText();
    t.match(locked, /locked by bob@laptop · \d+ s/, 'the held lock: its Who and age');
    t.match(await page.getByRole('row', { name: /web/ }).innerText(), /unlocked/);
    await screenshot(page, 'overview');

    await page.getByLabel('Search text').fill('aws_s3_bucket.logs');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('cell', { name: 'renamed-bucket' }).waitFor();
    const found = page.getByRole('table', { name: 'resources found' });
    t.strictSame(await found.getByRole('link', { name: 'team-a/prod/' }).allInnerTexts(), ['team-a/prod/network', 'team-a/prod/web'], 'the resource found in both states, each linked');
    await screenshot(page, 'resource-search');

    await found.getByRole('link', { name: 'team-a/prod/web' }).click();
    await page.getByRole('heading', { name: 'team-a/prod/web' }).waitFor();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.getByText('Versions 1–2').waitFor();
    t.match(await page.getByRole('listitem').first().innerText(), /Versions 1–2 OperationTypeApply by ci@runner-1, .* · unlocked · \+6 ~0 −0/, 'the run: both versions, who, how it ended, what it changed');
    t.equal(await page.getByRole('row', { name: /password/ }).innerText(), 'password\t(sensitive)', 'a sensitive output is masked');
    t.match(await page.getByRole('row', { name: /^bucket/ }).innerText(), /"renamed-bucket"/);
    await page.getByRole('cell', { name: 'aws_instance.web[1]' }).waitFor();
    t.equal(await settled(() => page.getByRole('link', { name: 'Download' }).count(), 2), 2, 'each version can be downloaded');
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download' }).first().click();
    const file = await (await download).path();
    t.match(JSON.parse(await fs.readFile(file, 'utf8')), { serial: 2 }, 'the newest version downloaded with the session cookie');
    await screenshot(page, 'state-page');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    t.pass('signed out, and still after a reload');
  });

  t.test('an outputs-only token sees the outputs and nothing else; a reader sees no lock', async (t) => {
    const outputsOnly = await tokenWith(server, 'outputs-only', [['outputs', 'team-a/**']]);
    const page = await freshPage(browser);
    await signInWithToken(page, server, outputsOnly);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    await page.goto(`${server.baseUrl}/ui/#/states/${encodeURIComponent('team-a/prod/web')}`);
    await page.getByRole('heading', { name: 'Outputs' }).waitFor();
    await page.getByRole('row', { name: /^bucket/ }).waitFor();
    t.equal(await page.getByRole('row', { name: /password/ }).innerText(), 'password\t(sensitive)');
    t.strictSame(await page.getByRole('heading', { level: 2 }).allInnerTexts(), ['Outputs'], 'no runs, resources or versions');
    await screenshot(page, 'outputs-only');

    const reader = await tokenWith(server, 'reader', [['read', '*']]);
    const readerPage = await freshPage(browser);
    await signInWithToken(readerPage, server, reader);
    await readerPage.goto(`${server.baseUrl}/ui/#/states/${encodeURIComponent('team-a/prod/network')}`);
    await readerPage.getByLabel('lock').getByText(/Locked by bob@laptop/).waitFor();
    await readerPage.getByRole('table', { name: 'versions' }).waitFor();
    t.strictSame(await readerPage.getByRole('button').allInnerTexts(), ['Sign out', 'Compare', 'Show'], 'a reader sees no force-unlock and no rollback');
    const forged = await readerPage.evaluate(async () => (await fetch('/states/team-a/prod/network/lock', { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"reason":"forged"}' })).status);
    t.equal(forged, 403, "a forged force-unlock from the reader's session is refused");
    await screenshot(readerPage, 'reader');
  });

  t.test('a narrow window', async (t) => {
    const page = await (await browser.newContext({ viewport: { width: 390, height: 800 } })).newPage();
    await signInWithPassword(page, server, USER, PASSWORD);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    t.ok(overflow <= 0, `no sideways scrolling (${overflow} px)`);
    await screenshot(page, 'overview-narrow');
  });
});
