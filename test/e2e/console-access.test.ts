import t from 'tap';
import { freshPage, launch, screenshot, settled, settledFocus, signInWithPassword, signInWithToken, tokenWith } from '../support/console.js';
import { basicAuth, PASSWORD, startServer, USER } from '../support/server.js';

const NAME_RULE = 'names are letters, digits, ".", "_", "@" or "-", starting with a letter or digit, at most 64 characters';

t.test('the Access page in Chromium', async (t) => {
  const server = await startServer(t);
  const browser = await launch(t);
  /** GET /states with other credentials than the test user's: 200 when they are accepted. */
  const statusWith = async (authorization: string) => (await fetch(`${server.baseUrl}/states`, { headers: { authorization } })).status;

  t.test('an administrator manages users, tokens and grants', async (t) => {
    const page = await freshPage(browser);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseUrl });
    await signInWithPassword(page, server, USER, PASSWORD);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Access' }).click();
    await page.getByRole('heading', { name: 'Access', level: 1 }).waitFor();
    t.equal(page.url(), `${server.baseUrl}/ui/#/admin`);
    await page.getByText('No tokens yet: create one for CI below.').waitFor();
    t.equal(await settled(() => page.getByText('No users yet: add one below, then grant them a role.').count(), 1), 1, 'each empty list says what to do');
    t.equal(await settled(() => page.getByText('No grants yet: give a user or a token a role on some states below.').count(), 1), 1);
    await screenshot(page, 'access-empty');

    // Users: a password too short is the API's sentence, next to the form; then a user with one, and one with a generated one.
    const addUser = page.getByRole('form', { name: 'Add a user' });
    await addUser.getByLabel('Name').fill('carol');
    await addUser.getByLabel('Password (optional)').fill('too short');
    await addUser.getByRole('button', { name: 'Add user' }).click();
    t.equal(await addUser.getByRole('alert').innerText(), 'password must be text of 12 to 1024 characters', 'the API says why');
    await screenshot(page, 'access-user-refused');
    await addUser.getByLabel('Password (optional)').fill('carol has a long password');
    await addUser.getByRole('button', { name: 'Add user' }).click();
    const carol = page.getByRole('row', { name: /^carol/ });
    await carol.waitFor();
    t.match(await carol.innerText(), /^carol\tset\t.+\tuser:alice\t/, 'listed: name, password set, when and by whom');
    t.equal(await addUser.getByRole('alert').count(), 0, 'the error is gone');
    t.equal(await addUser.getByLabel('Name').inputValue(), '', 'the form is cleared');
    t.equal(await statusWith(basicAuth('carol', 'carol has a long password')), 200, 'carol signs in with her password');

    await addUser.getByLabel('Name').fill('dave');
    await addUser.getByRole('button', { name: 'Add user' }).click();
    const generatedBox = page.getByRole('region', { name: 'Password for dave' });
    const generated = await generatedBox.getByLabel('generated password for dave').innerText();
    t.equal(await statusWith(basicAuth('dave', generated)), 200, 'the generated password, shown once, works');
    await page.getByRole('row', { name: /^dave/ }).waitFor();
    await generatedBox.getByRole('button', { name: 'Done, hide it' }).click();
    await generatedBox.waitFor({ state: 'detached' });
    t.pass('hidden once done');

    // A new password for carol, then dave removed after a confirmation (cancelled once).
    await page.getByRole('button', { name: 'Set password of carol' }).click();
    const passwordForm = page.getByRole('form', { name: 'Set the password of carol' });
    await passwordForm.getByLabel('New password for carol').fill('short');
    await passwordForm.getByRole('button', { name: 'Save password' }).click();
    t.equal(await passwordForm.getByRole('alert').innerText(), 'password must be text of 12 to 1024 characters');
    await passwordForm.getByLabel('New password for carol').fill('carol has another password');
    await passwordForm.getByRole('button', { name: 'Save password' }).click();
    t.equal(await page.getByRole('status').filter({ hasText: 'carol' }).innerText(), 'The password of carol is changed.');
    t.equal(await statusWith(basicAuth('carol', 'carol has another password')), 200, 'the new password works');
    t.equal(await statusWith(basicAuth('carol', 'carol has a long password')), 401, 'the old one no longer');

    await page.getByRole('button', { name: 'Remove user dave' }).click();
    const asking = page.getByRole('group', { name: 'Remove user dave?' });
    t.match(await asking.innerText(), /^Remove user dave\?\s+Yes, remove\s*user dave\s+Cancel$/, 'asked in place');
    t.equal(await settledFocus(page, 'text', 'Cancel'), 'Cancel', 'focus on Cancel');
    await page.keyboard.press('Enter');
    await asking.waitFor({ state: 'detached' });
    t.pass('cancelled with the keyboard');
    t.equal(await page.getByRole('row', { name: /^dave/ }).count(), 1, 'dave is still there');
    await page.getByRole('button', { name: 'Remove user dave' }).click();
    await page.getByRole('button', { name: 'Yes, remove user dave' }).click();
    await page.getByRole('row', { name: /^dave/ }).waitFor({ state: 'detached' });
    t.equal(await statusWith(basicAuth('dave', generated)), 401, 'dave can no longer sign in');

    // Tokens: an invalid name, an invalid expiry, then a token whose secret is shown once.
    const createToken = page.getByRole('form', { name: 'Create a token' });
    await createToken.getByLabel('Name').fill('ci deploy');
    await createToken.getByRole('button', { name: 'Create token' }).click();
    t.equal(await createToken.getByRole('alert').innerText(), `token ${NAME_RULE}; got "ci deploy"`, 'an invalid name, in words');
    await screenshot(page, 'access-token-refused');
    await createToken.getByLabel('Name').fill('ci-deploy');
    await createToken.getByLabel('Expires (optional)').fill('tomorrow');
    await createToken.getByRole('button', { name: 'Create token' }).click();
    await createToken.getByRole('alert').getByText(/^expires must be a duration/).waitFor();
    t.equal(
      await createToken.getByRole('alert').innerText(),
      'expires must be a duration such as 30d, 12h, 90m or 2w, or a future RFC 3339 time such as 2027-06-30T00:00:00Z, before the year 10000',
    );
    await createToken.getByLabel('Expires (optional)').fill('30d');
    await createToken.getByRole('button', { name: 'Create token' }).click();
    const secretBox = page.getByRole('region', { name: 'Secret of the new token ci-deploy' });
    const secret = await secretBox.getByLabel('secret of token ci-deploy').innerText();
    t.match(secret, /^slt_[A-Za-z0-9_-]{43}$/, 'the secret, shown once');
    t.match(await secretBox.innerText(), /It will not be shown again/);
    await secretBox.getByRole('button', { name: 'Copy' }).click();
    await secretBox.getByRole('status').getByText('Copied to the clipboard.').waitFor();
    t.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'Copy put the secret on the clipboard');
    const row = page.getByRole('row', { name: /^ci-deploy/ });
    await row.waitFor();
    t.match(await row.innerText(), /^ci-deploy\t.+\tuser:alice\t.+\tnever\t/, 'listed: created, by whom, an expiry, never used');
    t.equal(await createToken.getByRole('alert').count(), 0);
    await screenshot(page, 'access-token-secret');

    t.equal(await statusWith(`Bearer ${secret}`), 200, 'the secret works');
    t.equal(await statusWith(`Bearer ${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`), 401, 'another does not');
    await page.reload();
    await page.getByRole('row', { name: /^ci-deploy/ }).waitFor();
    t.equal(await page.getByRole('region', { name: /Secret of the new token/ }).count(), 0, 'after a reload the secret is gone');
    t.notOk((await page.content()).includes(secret), 'and nowhere in the page');

    // Grants: one to a token that does not exist is refused in words; one to ci-deploy is listed, then revoked.
    const addGrant = page.getByRole('form', { name: 'Add a grant' });
    await addGrant.getByLabel('Role').selectOption('write');
    await addGrant.getByLabel('Subject').fill('token:nobody');
    await addGrant.getByLabel('States').fill('team-a/**');
    await addGrant.getByRole('button', { name: 'Add grant' }).click();
    t.equal(await addGrant.getByRole('alert').innerText(), 'token:nobody does not exist; add the user or create the token before granting it a role');
    await addGrant.getByLabel('Subject').fill('token:ci-deploy');
    await addGrant.getByRole('button', { name: 'Add grant' }).click();
    const grant = page.getByRole('row', { name: /token:ci-deploy/ });
    await grant.waitFor();
    t.match(await grant.innerText(), /^write\ttoken:ci-deploy\tteam-a\/\*\*\t.+\tuser:alice\t/, 'listed: role, subject, states, when and by whom');
    t.equal(await addGrant.getByRole('alert').count(), 0);
    t.equal(await addGrant.getByLabel('Role').inputValue(), 'write', 'the role stays chosen for the next grant');
    t.equal(await addGrant.getByLabel('Subject').inputValue(), '', 'the subject is cleared');
    await addGrant.getByLabel('Subject').fill('token:ci-deploy');
    await addGrant.getByLabel('States').fill('team-a/**');
    await addGrant.getByRole('button', { name: 'Add grant' }).click();
    const already = 'token:ci-deploy has write on team-a/** already: nothing changed.';
    t.equal(await settled(() => addGrant.getByRole('status').innerText(), already), already, 'granting twice changes nothing, and says so');
    await screenshot(page, 'access');

    const tokenPage = await freshPage(browser);
    await signInWithToken(tokenPage, server, secret);
    await tokenPage.getByRole('heading', { name: 'States' }).waitFor();
    t.equal(await settled(() => tokenPage.getByText('token:ci-deploy').count(), 1), 1, 'signed in with the new secret, as the token');

    await page.getByRole('button', { name: 'Revoke write on team-a/** from token:ci-deploy' }).click();
    await page.getByRole('button', { name: 'Yes, revoke write on team-a/** from token:ci-deploy' }).click();
    await page.getByText('No grants yet: give a user or a token a role on some states below.').waitFor();
    t.equal(await page.getByRole('row', { name: /token:ci-deploy/ }).count(), 0, 'the grant is revoked');

    await page.getByRole('button', { name: 'Revoke token ci-deploy' }).click();
    await page.getByRole('button', { name: 'Yes, revoke token ci-deploy' }).click();
    await page.getByText('No tokens yet: create one for CI below.').waitFor();
    t.equal(await statusWith(`Bearer ${secret}`), 401, 'the revoked secret no longer works');
    await screenshot(page, 'access-after-revocations');
  });

  t.test('a narrow window', async (t) => {
    const page = await (await browser.newContext({ viewport: { width: 390, height: 800 } })).newPage();
    await signInWithPassword(page, server, USER, PASSWORD);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    await page.goto(`${server.baseUrl}/ui/#/admin`);
    await page.getByRole('row', { name: /^carol/ }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    t.ok(overflow <= 0, `no sideways scrolling (${overflow} px)`);
    await screenshot(page, 'access-narrow');
  });

  t.test('someone who does not manage access sees no Access page', async (t) => {
    const teamAdmin = await tokenWith(server, 'team-a-admin', [['admin', 'team-a/*']]);
    const page = await freshPage(browser);
    await signInWithToken(page, server, teamAdmin);
    await page.getByRole('heading', { name: 'States' }).waitFor();
    t.strictSame(await page.getByRole('navigation', { name: 'main' }).getByRole('link').allInnerTexts(), ['States', 'Locks'], 'no Access link');
    await page.goto(`${server.baseUrl}/ui/#/admin`);
    t.equal(await page.getByRole('alert').innerText(), 'Managing access needs the admin role on every state (a grant of admin on *).');
    t.equal(await page.getByRole('form').count(), 0, 'no form');
    t.equal(await page.evaluate(async () => (await fetch('/access/tokens')).status), 403, 'and the API refuses the session too');
    await screenshot(page, 'access-refused');
  });
});
