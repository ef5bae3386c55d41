import t from 'tap';
import { startServer } from '../support/server.js';

const HASHED = /^\/ui\/(boot|main|app)-[A-Z0-9]{8}\.(js|css)$/;

t.test("the console's files: the page asked for every time, its bundles cached for good", async (t) => {
  const server = await startServer(t);
  const redirected = await fetch(`${server.baseUrl}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
  t.strictSame([redirected.status, redirected.headers.get('location')], [302, '/ui/'], 'a browser asking for / is sent to the console');

  const page = await fetch(`${server.baseUrl}/ui/`);
  t.equal(page.status, 200);
  t.equal(page.headers.get('cache-control'), 'no-cache', 'the page is revalidated: it names the current bundles');
  t.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await page.text();
  const named = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((match) => match[1] ?? '');
  t.strictSame(named.filter((path) => !HASHED.test(path)), ['/ui/session'], 'every bundle is named by its content (the session is preloaded)');
  t.strictSame(named.filter((path) => HASHED.test(path)).map((path) => HASHED.exec(path)?.[1]).sort(), ['app', 'boot', 'main']);
  t.ok(html.indexOf('/ui/boot-') < html.indexOf('/ui/app-'), 'the boot script comes before the stylesheet, which would hold it back');

  for (const path of named.filter((p) => HASHED.test(p))) {
    const asset = await fetch(`${server.baseUrl}${path}`);
    t.strictSame([asset.status, asset.headers.get('cache-control')], [200, 'public, max-age=31536000, immutable'], `${path} is cached for good`);
    t.match(asset.headers.get('content-type') ?? '', path.endsWith('.css') ? /^text\/css/ : /javascript/);
    await asset.arrayBuffer();
  }
  const missing = await fetch(`${server.baseUrl}/ui/main-AAAAAAAA.js`);
  t.equal(missing.status, 401, "a bundle of another build is not there: the path goes on to the API, which wants credentials");
  await missing.arrayBuffer();
});

t.test("a script's request without credentials is refused without a Basic challenge, so a browser shows no dialog", async (t) => {
  const server = await startServer(t);
  const refused = async (headers: Record<string, string>) => {
    const reply = await fetch(`${server.baseUrl}/states`, { headers: { accept: 'application/json', ...headers } });
    return [reply.status, reply.headers.get('www-authenticate'), ((await reply.json()) as { error: string }).error];
  };
  t.strictSame(await refused({ 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors' }), [401, null, 'unauthorized'], 'fetch() or EventSource: no challenge');
  t.strictSame(await refused({ 'sec-fetch-dest': 'document' }), [401, 'Basic realm="state-ledger", charset="UTF-8"', 'unauthorized'], 'a page opened in the browser: the challenge');
  t.strictSame(await refused({}), [401, 'Basic realm="state-ledger", charset="UTF-8"', 'unauthorized'], 'curl or Terraform: the challenge');
  const wrong = await fetch(`${server.baseUrl}/states`, { headers: { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}`, 'sec-fetch-dest': 'empty' } });
  t.strictSame([wrong.status, wrong.headers.get('www-authenticate')], [401, null], 'a wrong password from a script: no challenge either');
  await wrong.arrayBuffer();
});
