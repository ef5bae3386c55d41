import t from 'tap';
import type { Page } from 'playwright-core';
import { freshPage, launch, screenshot, settled, signInWithPassword } from '../support/console.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { PASSWORD, startServer, USER } from '../support/server.js';

/**
 * The console with a fleet too large for one screen, in Chromium: the overview opens on folders
 * that sum up what they hold, they open by mouse or keyboard and stay open as live updates arrive;
 * a new tab asks for each datum once (the boot script's early requests are used, not repeated);
 * times are shown in the browser's zone.
 */

const firstCells = async (page: Page) =>
  (await page.getByRole('table').first().getByRole('row').allInnerTexts()).map((text) => text.split('\t')[0]?.trim());

t.test('a fleet in the web console', async (t) => {
  const server = await startServer(t);
  const push = async (name: string) => t.equal((await defaultClient(server.baseUrl, name).put(stateDocument(1))).status, 200, `pushed ${name}`);
  // 1 + 2 + 60 rows under fleet/, 101 under wide/: more than a screenful, so only the top level shows.
  for (const team of ['a', 'b']) for (let i = 0; i < 30; i++) await push(`fleet/${team}/svc-${String(i).padStart(2, '0')}`);
  for (let i = 0; i < 101; i++) await push(`wide/w${String(i).padStart(3, '0')}`);
  await push('app');
  const locked = defaultClient(server.baseUrl, 'fleet/a/svc-00');
  t.ok((await locked.lock(newLockInfo({ Who: 'erin@ci' }))).locked);
  const browser = await launch(t);

  t.test('the overview opens on folders that sum up what they hold, and they open by keyboard or mouse', async (t) => {
    const page = await freshPage(browser);
    await signInWithPassword(page, server, USER, PASSWORD);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    t.strictSame(await firstCells(page), ['State', 'app', 'fleet/', 'wide/'], 'the top level, folders closed');
    t.equal(await settled(() => page.getByText('162 states, 1 locked').count(), 1), 1, 'the whole fleet summed up');
    const fleet = page.getByRole('button', { name: 'fleet/' });
    t.equal(await fleet.getAttribute('aria-expanded'), 'false');
    t.match(await page.getByRole('row', { name: /^fleet\// }).innerText(), /^fleet\/\t60 states\t.*\t.*\t1 locked$/, "the folder's states, size, last change and locks");
    await screenshot(page, 'overview-fleet-closed');

    await fleet.focus();
    await page.keyboard.press('Enter');
    t.strictSame(await firstCells(page), ['State', 'app', 'fleet/', 'a/', 'b/', 'wide/'], 'Enter opens a folder');
    t.equal(await fleet.getAttribute('aria-expanded'), 'true');
    await page.getByRole('button', { name: 'a/', exact: true }).click();
    t.equal((await firstCells(page)).length, 1 + 5 + 30, 'a click opens another');

    // A lock taken through the protocol updates the folder's summary; the folders stay as opened.
    t.ok((await defaultClient(server.baseUrl, 'fleet/b/svc-07').lock(newLockInfo({ Who: 'frank@ci' }))).locked);
    await page.getByRole('row', { name: /^fleet\// }).getByText('2 locked').waitFor();
    t.equal((await firstCells(page)).length, 1 + 5 + 30, 'still open after the live update');
    await page.getByRole('row', { name: /^b\// }).getByText('1 locked').waitFor();

    await page.getByRole('button', { name: 'wide/' }).click();
    await page.getByRole('button', { name: 'Show 1 more in wide/' }).click();
    await page.getByRole('link', { name: 'w100', exact: true }).waitFor();
    t.pass('a folder of more than 100 entries shows 100, then the rest when asked');

    await page.getByRole('button', { name: 'Collapse all' }).click();
    t.strictSame(await firstCells(page), ['State', 'app', 'fleet/', 'wide/']);
    await page.getByRole('button', { name: 'Expand all' }).click();
    t.equal((await firstCells(page)).length, 1 + 1 + 1 + 2 + 60 + 1 + 101, 'every folder and every state');
  });

  t.test('a new tab asks for each datum once: the early requests are used, not sent again', async (t) => {
    const signedIn = await freshPage(browser);
    await signInWithPassword(signedIn, server, USER, PASSWORD);
    await signedIn.getByRole('heading', { name: 'States' }).waitFor();
    const asked = async (hash: string, shown: (page: Page) => Promise<unknown>) => {
      const page = await signedIn.context().newPage();
      const paths: string[] = [];
      page.on('request', (request) => {
        const url = new URL(request.url());
        // Fetches, and the session's preload; not the page or its bundles.
        if (!['document', 'script', 'stylesheet'].includes(request.resourceType())) paths.push(`${url.pathname}${url.search}`);
      });
      await page.goto(`${server.baseUrl}/ui/${hash}`);
      await shown(page);
      await page.close();
      return paths.filter((path) => !path.startsWith('/events')).sort(); // the activity and the stream come after
    };
    t.strictSame(await asked('#/', (page) => page.getByRole('button', { name: 'fleet/' }).waitFor()), ['/locks', '/states', '/ui/session']);
    t.strictSame(
      await asked(`#/states/${encodeURIComponent('fleet/a/svc-00')}`, (page) => page.getByRole('table', { name: 'audit trail' }).waitFor()),
      [
        '/resources?state=fleet%2Fa%2Fsvc-00&limit=100',
        '/states/fleet/a/svc-00/events?order=newest&limit=25',
        '/states/fleet/a/svc-00/lock',
        '/states/fleet/a/svc-00/outputs',
        '/states/fleet/a/svc-00/runs?limit=20',
        '/states/fleet/a/svc-00/versions?limit=20',
        '/ui/session',
      ],
    );
  });

  t.test("an output's number beyond a double's precision is shown with every digit", async (t) => {
    const body = Buffer.from('{"version":4,"terraform_version":"1.9.8","serial":1,"lineage":"big-numbers","outputs":{"account":{"value":123456789012345678901234567890,"type":"number"},"small":{"value":1.5,"type":"number"}},"resources":[]}');
    t.equal((await defaultClient(server.baseUrl, 'numbers/app').put(body)).status, 200);
    const page = await freshPage(browser);
    await signInWithPassword(page, server, USER, PASSWORD);
    await page.goto(`${server.baseUrl}/ui/#/states/${encodeURIComponent('numbers/app')}`);
    const outputs = page.getByRole('region', { name: 'Outputs' });
    await outputs.getByRole('row', { name: /^account/ }).waitFor();
    t.strictSame(await outputs.getByRole('row').allInnerTexts(), ['Name\tValue', 'account\t123456789012345678901234567890', 'small\t1.5'], 'not 1.2345678901234568e+29');
  });

  t.test("times are shown in the browser's zone, the exact instant on hover", async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'Asia/Kolkata' });
    const page = await context.newPage();
    await signInWithPassword(page, server, USER, PASSWORD);
    const time = page.getByRole('row', { name: /^app/ }).locator('time');
    await time.waitFor();
    const instant = String(await time.getAttribute('title'));
    const kolkata = new Date(Date.parse(instant) + 5.5 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
    t.equal(await time.innerText(), kolkata, `${instant} in Kolkata (UTC+05:30)`);
  });

  t.test('a lease that runs out turns red on time, with no event to say so', async (t) => {
    const leased = await startServer(t, { leases: { rules: [{ glob: 'leased/**', value: 6 }], fallback: null } });
    const client = defaultClient(leased.baseUrl, 'leased/app');
    t.equal((await client.put(stateDocument(1))).status, 200);
    t.ok((await client.lock(newLockInfo({ Who: 'gina@ci' }))).locked);
    const lockedAt = Date.now();
    const first = await freshPage(browser);
    await signInWithPassword(first, leased, USER, PASSWORD);
    // Three tabs, each on a page that shows the lock: the locks page, the overview, the state's page.
    const views = await Promise.all([
      { hash: '#/locks', held: (page: Page) => page.getByRole('row', { name: /^leased\/app/ }), expired: '(expired)' },
      { hash: '#/', held: (page: Page) => page.getByRole('row', { name: /^app/ }), expired: 'lease expired' },
      { hash: `#/states/${encodeURIComponent('leased/app')}`, held: (page: Page) => page.getByLabel('lock'), expired: 'lease expired' },
    ].map(async (view) => {
      const page = await first.context().newPage();
      await page.goto(`${leased.baseUrl}/ui/${view.hash}`);
      await view.held(page).getByText('gina@ci').first().waitFor();
      return { ...view, page, within: await view.held(page).getByText(view.expired).count() };
    }));
    t.ok(Date.now() - lockedAt < 6000, 'the pages were open within the lease');
    t.strictSame(views.map((view) => view.within), [0, 0, 0], 'within the lease, no page says it expired');
    for (const view of views) {
      await view.held(view.page).getByText(view.expired).first().waitFor({ timeout: 15_000 });
      t.equal(await view.page.evaluate(() => performance.getEntriesByType('navigation').length), 1, `${view.hash}: expired, without a reload`);
    }
    t.strictSame((await (await leased.request('/states/leased/app/events')).json() as { events: { type: string }[] }).events.map((e) => e.type), ['StatePushed', 'StateLocked'], 'no event came to say so');
  });
});
