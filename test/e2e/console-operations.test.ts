import t from 'tap';
import { createLogger } from '../../src/logger.js';
import { asyncProjections } from '../../src/projections/async/projections.js';
import { freshPage, launch, screenshot, settledFocus, signInWithPassword } from '../support/console.js';
import { richState } from '../support/contents-states.js';
import { defaultClient, newLockInfo, stateDocument } from '../support/go-client.js';
import { runner } from '../support/projections.js';
import { PASSWORD, startServer, USER } from '../support/server.js';

/**
 * The console's live updates and its dangerous operations, as an administrator does them in
 * Chromium: a lock taken through the protocol appears without a reload, a diff, a rollback with
 * its preview, force-unlocks with a reason (on a state's page and on the locks page), the audit
 * trail and the state at a chosen time.
 */

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

const statePage = (name: string) => `/ui/#/states/${encodeURIComponent(name)}`;

t.test('operations in the web console', async (t) => {
  const server = await startServer(t);
  await runner(t, { url: server.db.url, blobs: server.blobs, logger, projections: asyncProjections, settings: { coalesceMs: 10 } });
  const browser = await launch(t);
  const adminPage = async () => {
    const page = await freshPage(browser);
    await signInWithPassword(page, server, USER, PASSWORD);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    return page;
  };
  const events = async (name: string) => ((await (await server.request(`/states/${name}/events`)).json()) as { events: Array<{ type: string; actor: string; data: Record<string, unknown> }> }).events;

  t.test('a lock and a push through the protocol appear live, on the overview and on the open state page', async (t) => {
    const live = defaultClient(server.baseUrl, 'live/app');
    t.equal((await live.put(richState(1))).status, 200);
    const page = await adminPage();
    const row = page.getByRole('row', { name: /app/ });
    await row.getByText('unlocked').waitFor();
    await page.getByText('live', { exact: true }).waitFor();
    t.ok((await live.lock(newLockInfo({ Operation: 'OperationTypeApply', Who: 'carol@ci' }))).locked);
    await row.getByText(/locked by carol@ci/).waitFor();
    await page.getByRole('list', { name: 'activity' }).getByText('locked by carol@ci for OperationTypeApply').waitFor();
    t.pass('the overview shows the new lock and the activity without a reload');
    await screenshot(page, 'overview-live');

    await page.getByRole('link', { name: 'app', exact: true }).click();
    await page.getByLabel('lock').getByText(/Locked by carol@ci \(OperationTypeApply\)/).waitFor();
    t.equal((await live.put(richState(2, { bucket: 'live-bucket' }))).status, 200);
    await page.getByRole('table', { name: 'versions' }).getByRole('cell', { name: '2', exact: true }).first().waitFor();
    await page.getByRole('row', { name: /^bucket/ }).getByText('"live-bucket"').waitFor();
    t.equal((await live.unlock()).status, 200);
    await page.getByLabel('lock').getByText('Unlocked.').waitFor();
    t.pass('the state page shows the new version, its outputs and the release without a reload');
    t.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1, 'no reload happened');
  });

  t.test('a diff between two versions, side by side, without attribute values', async (t) => {
    const web = defaultClient(server.baseUrl, 'diff/web');
    t.equal((await web.put(richState(1))).status, 200);
    t.equal((await web.put(richState(2, { bucket: 'renamed-bucket' }))).status, 200);
    const page = await adminPage();
    await page.goto(`${server.baseUrl}${statePage('diff/web')}`);
    t.strictSame(
      [await page.getByLabel('From version', { exact: true }).inputValue(), await page.getByLabel('to version', { exact: true }).inputValue()],
      ['1', '2'],
      'the current version and the one before are offered',
    );
    t.equal(await page.getByRole('table', { name: 'resources compared' }).count(), 0, 'compared only when asked');
    await page.getByRole('button', { name: 'Compare' }).click();
    const compared = page.getByRole('table', { name: 'resources compared' });
    await compared.waitFor();
    t.strictSame(await compared.getByRole('columnheader').allInnerTexts(), ['version 1', 'version 2']);
    t.strictSame(await compared.getByRole('row').allInnerTexts(), ['version 1\tversion 2', 'aws_s3_bucket.logs\taws_s3_bucket.logs\nchanged: id']);
    const outputs = page.getByRole('table', { name: 'outputs compared' });
    t.strictSame(await outputs.getByRole('row').allInnerTexts(), ['Output\tversion 1\tversion 2', 'bucket\t"logs-bucket"\t"renamed-bucket"']);
    t.notOk((await page.getByRole('region', { name: 'Compare versions' }).innerText()).includes('hunter2'), 'no sensitive value');
    await page.getByLabel('From version', { exact: true }).fill('2');
    await page.getByLabel('to version', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Compare' }).click();
    await outputs.locator('th:nth-child(2)', { hasText: 'version 2' }).waitFor();
    t.strictSame(await outputs.getByRole('row').allInnerTexts(), ['Output\tversion 2\tversion 1', 'bucket\t"renamed-bucket"\t"logs-bucket"'], 'the other way round');
    await screenshot(page, 'diff');
  });

  t.test('a rollback: preview of what changes, a lineage warning, a reason, then the new version', async (t) => {
    const app = defaultClient(server.baseUrl, 'rollback/app');
    t.equal((await app.put(richState(1))).status, 200);
    t.equal((await app.put(richState(2, { bucket: 'broken-bucket' }))).status, 200);
    const page = await adminPage();
    await page.goto(`${server.baseUrl}${statePage('rollback/app')}`);
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    const form = page.getByRole('form', { name: 'rollback' });
    t.equal(await settledFocus(page, 'text', 'Roll back to version 1'), 'Roll back to version 1', 'the keyboard is taken to the form');
    const preview = form.getByRole('table', { name: 'outputs compared' });
    await preview.waitFor();
    t.strictSame(await preview.getByRole('row').allInnerTexts(), ['Output\tnow (version 2)\tafter the rollback (as version 1)', 'bucket\t"broken-bucket"\t"logs-bucket"']);
    t.equal(await form.getByRole('alert').count(), 0, 'same lineage: no warning');
    await screenshot(page, 'rollback-preview');
    await form.getByRole('button', { name: 'Roll back to version 1' }).click();
    t.equal(await form.count(), 1, 'a reason is required before anything is sent');
    await form.getByLabel(/Reason/).fill('the bucket rename broke the logs');
    await form.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page.getByRole('status').getByText('Rolled back: version 3 now holds the content of version 1').waitFor();
    await page.getByRole('table', { name: 'versions' }).getByText('(rollback to 1)').waitFor();
    t.pass('version 3 is listed as the rollback to 1');
    await page.getByRole('row', { name: /^bucket/ }).getByText('"logs-bucket"').waitFor();
    const rolledBack = (await events('rollback/app')).find((e) => e.type === 'StateRolledBack');
    t.match(rolledBack, { actor: USER, data: { version: 3, to_version: 1, reason: 'the bucket rename broke the logs' } }, 'recorded with the reason and the actor');
    await screenshot(page, 'rollback-done');

    const other = defaultClient(server.baseUrl, 'rollback/lineage');
    t.equal((await other.put(stateDocument(1, 'aaaaaaaa-0000-4000-8000-000000000001'))).status, 200);
    t.equal((await other.put(stateDocument(2, 'bbbbbbbb-0000-4000-8000-000000000002'))).status, 200);
    await page.goto(`${server.baseUrl}${statePage('rollback/lineage')}`);
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    const warning = page.getByRole('form', { name: 'rollback' }).getByRole('alert');
    t.match(await warning.innerText(), /belongs to another lineage \(aaaaaaaa-0000-4000-8000-000000000001, the current one is bbbbbbbb-0000-4000-8000-000000000002\)/);
    await page.getByLabel(/Reason/).fill('restore the old workspace');
    await page.getByRole('button', { name: 'Roll back to version 1' }).last().click();
    t.equal((await events('rollback/lineage')).filter((e) => e.type === 'StateRolledBack').length, 0, 'not sent without ticking the lineage box');
    await page.getByLabel('I know; roll back across lineages').check();
    await page.getByRole('button', { name: 'Roll back to version 1' }).last().click();
    await page.getByRole('status').getByText('Rolled back: version 3').waitFor();
    t.pass('rolled back across lineages once acknowledged');
  });

  t.test('a deleted state is said to be, and restored by rolling back to its last version', async (t) => {
    const gone = defaultClient(server.baseUrl, 'rollback/deleted');
    t.equal((await gone.put(richState(1))).status, 200);
    t.equal((await gone.put(richState(2, { bucket: 'last-bucket' }))).status, 200);
    t.equal((await gone.delete()).status, 200);
    const page = await adminPage();
    await page.goto(`${server.baseUrl}${statePage('rollback/deleted')}`);
    await page.getByRole('status').getByText('This state was deleted (see the audit trail). Its versions are kept: rolling back to one of them restores it.').waitFor();
    t.equal(await page.getByRole('button', { name: /^Roll back to version/ }).count(), 2, 'every version may be restored, the last one too');
    await page.getByRole('button', { name: 'Roll back to version 2' }).click();
    const form = page.getByRole('form', { name: 'rollback' });
    await form.getByText('The state was deleted: the rollback makes it exist again, with the content of version 2.').waitFor();
    t.match(await form.innerText(), /Rolling back writes version 3 with its content/);
    t.equal(await form.getByRole('alert').count(), 0, 'no lineage to compare with');
    await form.getByLabel(/Reason/).fill('deleted by mistake');
    await form.getByRole('button', { name: 'Roll back to version 2' }).click();
    await page.getByRole('status').getByText('Rolled back: version 3 now holds the content of version 2').waitFor();
    await page.getByRole('row', { name: /^bucket/ }).getByText('"last-bucket"').waitFor();
    t.equal(await page.getByText('This state was deleted').count(), 0, 'no longer said to be deleted');
    t.equal(JSON.parse((await gone.get()).body.toString()).outputs.bucket.value, 'last-bucket', 'Terraform reads it again');
  });

  t.test('force-unlock with a reason, saying whose work it may break; then the audit trail', async (t) => {
    const network = defaultClient(server.baseUrl, 'unlock/network');
    t.equal((await network.put(richState(1))).status, 200);
    t.ok((await network.lock(newLockInfo({ Operation: 'OperationTypeApply', Who: 'dave@runner-9' }))).locked);
    const page = await adminPage();
    await page.goto(`${server.baseUrl}${statePage('unlock/network')}`);
    await page.getByRole('button', { name: 'Force-unlock…' }).click();
    const form = page.getByRole('form', { name: 'force-unlock unlock/network' });
    t.equal(await settledFocus(page, 'name', 'reason'), 'reason', 'the keyboard lands in the reason');
    t.match(await form.innerText(), /The lock is held by dave@runner-9 for OperationTypeApply, taken by user:alice at .*If that run is still going, its next push or unlock is refused/);
    await form.getByLabel(/Reason/).fill('runner 9 died mid-apply');
    await screenshot(page, 'force-unlock');
    await form.getByRole('button', { name: 'Release the lock' }).click();
    await page.getByLabel('lock').getByText('Unlocked.').waitFor();
    t.match((await events('unlock/network')).at(-1), { type: 'LockForceReleased', actor: USER, data: { reason: 'runner 9 died mid-apply', lock: { Who: 'dave@runner-9' } } });
    const trail = page.getByRole('table', { name: 'audit trail' });
    await trail.getByText('LockForceReleased').waitFor();
    t.match((await trail.getByRole('row').allInnerTexts())[1], /^3\tLockForceReleased\t.*\tuser:alice\tOperationTypeApply by dave@runner-9 · reason: runner 9 died mid-apply$/, 'newest first, with the reason');
    await screenshot(page, 'audit-trail');
  });

  t.test('the locks page lists every held lock, and releases one with a reason', async (t) => {
    const held = defaultClient(server.baseUrl, 'locks/held');
    t.ok((await held.lock(newLockInfo({ Operation: 'OperationTypePlan', Who: 'erin@laptop' }))).locked);
    const page = await adminPage();
    await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Locks' }).click();
    const row = page.getByRole('row', { name: /locks\/held/ });
    t.match(await row.innerText(), /locks\/held\terin@laptop\tOperationTypePlan\t.*\t\d+ s\tno lease/);
    await row.getByRole('button', { name: 'Force-unlock…' }).click();
    await page.getByLabel(/Reason/).fill('left over from a laptop');
    await page.getByRole('button', { name: 'Release the lock' }).click();
    await row.waitFor({ state: 'detached' });
    t.match((await events('locks/held')).at(-1), { type: 'LockForceReleased', data: { reason: 'left over from a laptop' } });
    await screenshot(page, 'locks');
  });

  t.test('nothing chosen on one state carries over to another; a malformed address opens the overview', async (t) => {
    for (const name of ['carry/one', 'carry/two']) {
      const client = defaultClient(server.baseUrl, name);
      t.equal((await client.put(richState(1))).status, 200);
      t.equal((await client.put(richState(2))).status, 200);
    }
    const page = await adminPage();
    await page.goto(`${server.baseUrl}${statePage('carry/one')}`);
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page.getByRole('form', { name: 'rollback' }).waitFor();
    await page.evaluate((hash) => void (location.hash = hash), `#/states/${encodeURIComponent('carry/two')}`);
    await page.getByRole('heading', { name: 'carry/two' }).waitFor();
    await page.getByRole('table', { name: 'versions' }).waitFor();
    t.equal(await page.getByRole('form', { name: 'rollback' }).count(), 0, "the other state's rollback form is gone");
    for (const hash of ['#/states/%E0%A4', `#/states/${encodeURIComponent('carry/../one')}`]) {
      await page.evaluate((to) => void (location.hash = to), hash);
      await page.getByRole('heading', { name: 'States', level: 1 }).waitFor();
    }
    t.pass('a malformed name and one with a .. segment open the overview');
  });

  t.test('the state as it was at a chosen time', async (t) => {
    const past = defaultClient(server.baseUrl, 'past/app');
    t.equal((await past.put(richState(1))).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const between = new Date();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    t.equal((await past.put(richState(2, { bucket: 'later-bucket' }))).status, 200);
    const page = await adminPage();
    await page.goto(`${server.baseUrl}${statePage('past/app')}`);
    // datetime-local takes the browser's local time; Chromium here runs in the test's zone.
    const local = await page.evaluate((iso) => {
      const d = new Date(iso);
      const pad = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    }, between.toISOString());
    await page.getByLabel('At', { exact: true }).fill(local);
    await page.getByRole('button', { name: 'Show' }).click();
    const then = page.getByLabel('state at that time');
    await then.waitFor();
    t.match(await then.innerText(), /the state was version 1 \(serial 1,/);
    t.match(await then.getByRole('row', { name: /^bucket/ }).innerText(), /"logs-bucket"/, 'its outputs then');
    t.equal(await then.getByRole('row', { name: /password/ }).innerText(), 'password\t(sensitive)');
    await then.getByText('aws_instance.web[1]').waitFor();
    await page.getByLabel('At', { exact: true }).fill('2001-01-01T00:00:00');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText(/the state did not exist \(or had been deleted\)/).waitFor();
    t.pass('before the first version: said in words');
  });
});
