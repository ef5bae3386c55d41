import t from 'tap';
import { createLogger } from '../../src/logger.js';
import { contentsIndex } from '../../src/projections/async/contents-index.js';
import { richState } from '../support/contents-states.js';
import { defaultClient } from '../support/go-client.js';
import { DUMP, STACK } from '../support/hostile.js';
import { caughtUp, runner, waitFor } from '../support/projections.js';
import { startServer } from '../support/server.js';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

interface Found {
  state: string;
  address: string;
  type: string;
  id: string | null;
  module: string;
}
interface Page {
  resources: Found[];
  next: string | null;
}

t.test('GET /resources: exact and prefix filters, paging, a table, roles and hostile input', async (t) => {
  const server = await startServer(t);
  const { pool, url } = server.db;
  for (const state of ['other', 'team-a', 'team-b']) t.equal((await defaultClient(server.baseUrl, state).put(richState(1, { bucket: `${state}-logs` }))).status, 200);
  await runner(t, { url, blobs: server.blobs, logger, projections: [contentsIndex] });
  await waitFor('the index', () => caughtUp(pool, ['contents']));

  const token = async (name: string, role: string) => {
    const made = await server.request('/access/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
    t.equal(made.status, 201);
    const grant = await server.request('/access/grants', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role, subject: `token:${name}`, glob: 'team-*' }) });
    t.equal(grant.status, 200);
    return `Bearer ${((await made.json()) as { secret: string }).secret}`;
  };
  const reader = await token('reader', 'read');
  const outputsOnly = await token('outputs-only', 'outputs');
  const get = (path: string, authorization?: string) =>
    authorization === undefined ? server.request(path) : fetch(`${server.baseUrl}${path}`, { headers: { authorization } });
  const search = async (query: string, authorization?: string): Promise<Page> => {
    const res = await get(`/resources?${query}`, authorization);
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Page;
  };
  const pairs = async (query: string, authorization?: string) => (await search(query, authorization)).resources.map((r) => `${r.state} ${r.address}`);

  t.test('filters', async (t) => {
    t.strictSame(
      (await search('type=aws_s3_bucket')).resources.map((r) => [r.state, r.address, r.id]),
      [
        ['other', 'aws_s3_bucket.logs', 'other-logs'],
        ['team-a', 'aws_s3_bucket.logs', 'team-a-logs'],
        ['team-b', 'aws_s3_bucket.logs', 'team-b-logs'],
      ],
      'type, exact: which state manages a bucket',
    );
    t.strictSame(await pairs('id=team-b-logs'), ['team-b aws_s3_bucket.logs'], 'id, exact: which state holds this id');
    t.strictSame(await pairs('address=aws_instance.web&state=team-a'), ['team-a aws_instance.web[0]', 'team-a aws_instance.web[1]'], 'a resource address matches all its instances');
    t.strictSame(await pairs('address=aws_instance.web[1]&state=team-a'), ['team-a aws_instance.web[1]'], 'an instance address matches it alone');
    t.strictSame(await pairs('address=aws_s3_bucket.*'), ['other aws_s3_bucket.logs', 'team-a aws_s3_bucket.logs', 'team-b aws_s3_bucket.logs'], 'address prefix');
    t.strictSame(await pairs('id=subnet-*&state=team-*'), [
      'team-a module.network["eu"].aws_subnet.private["a"]',
      'team-a module.network["eu"].aws_subnet.private["b \\"quoted\\""]',
      'team-b module.network["eu"].aws_subnet.private["a"]',
      'team-b module.network["eu"].aws_subnet.private["b \\"quoted\\""]',
    ], 'id and state prefixes');
    t.strictSame(await pairs(`module=${encodeURIComponent('module.network["eu"]')}&state=other`), [
      'other module.network["eu"].aws_subnet.private["a"]',
      'other module.network["eu"].aws_subnet.private["b \\"quoted\\""]',
    ], 'module, exact');
    t.equal((await search('module=&state=other')).resources.length, 4, 'an empty module is the root module');
    t.equal((await search(`provider=${encodeURIComponent('provider["registry.terraform.io/hashicorp/aws"]')}&state=other`)).resources.length, 4, 'provider, exact');
    t.strictSame(await pairs('type=a_s*'), [], "LIKE's _ is an ordinary character");
    t.strictSame(await pairs('type=aws_s3%25'), [], "and so is LIKE's %");
    t.strictSame(await pairs('type=nothing'), []);
  });

  t.test('paging and the table', async (t) => {
    const all = (await search('limit=1000')).resources;
    t.equal(all.length, 18);
    const paged: Found[] = [];
    let after: string | null = null;
    do {
      const page: Page = await search(`limit=5${after === null ? '' : `&after=${after}`}`);
      paged.push(...page.resources);
      after = page.next;
    } while (after !== null);
    t.strictSame(paged, all, 'pages of 5 add up to the whole list, each row once');
    // The other query shape (an id or address filter): `id=*` is every instance with an id.
    const byId: Found[] = [];
    after = null;
    do {
      const page: Page = await search(`id=*&limit=7${after === null ? '' : `&after=${after}`}`);
      byId.push(...page.resources);
      after = page.next;
    } while (after !== null);
    t.strictSame(byId, all, 'and so do pages of 7 found by the id index');
    const table = await (await get('/resources?type=aws_s3_bucket&format=table')).text();
    t.strictSame(table.split('\n')[0]?.split(/ +/), ['STATE', 'VERSION', 'ADDRESS', 'TYPE', 'ID', 'PROVIDER']);
    t.equal(table.trimEnd().split('\n').length, 4);
  });

  t.test('only the states the caller may read', async (t) => {
    t.strictSame(await pairs('type=aws_s3_bucket', reader), ['team-a aws_s3_bucket.logs', 'team-b aws_s3_bucket.logs'], 'a reader of team-* sees team-*');
    t.strictSame(await pairs('id=other-logs', reader), [], 'and nothing of other, even by its id');
    t.strictSame(await pairs('type=aws_s3_bucket', outputsOnly), [], 'an outputs-only caller sees no resources');
    t.equal((await fetch(`${server.baseUrl}/resources`)).status, 401, 'anonymous callers are refused');
  });

  t.test('hostile input is a 400 in words', async (t) => {
    const cases: Array<[string, RegExp]> = [
      ['type=a&type=b', /^type must be .*; it was given more than once$/],
      [`type=${'x'.repeat(1025)}`, /^type must be text of at most 1024 characters/],
      ['id=%00', /^id must be /],
      ['limit=0', /^limit must be a positive integer/],
      ['limit=abc', /^limit must be a positive integer/],
      ['limit=99999999999', /^limit must be a positive integer/],
      ['after=not-a-cursor!', /^after must be the `next` of the previous page/],
      [`after=${Buffer.from('[1,2]').toString('base64url')}`, /^after must be the `next` of the previous page/],
      [`after=${Buffer.from('["s",-1]').toString('base64url')}`, /^after must be the `next` of the previous page/],
      [`after=${Buffer.from('{"__proto__":1}').toString('base64url')}`, /^after must be the `next` of the previous page/],
      ['format=xml', /^format must be json or table/],
      ['module[x]=1', /.*/],
      ['state=%ff', /^the query string must be percent-encoded UTF-8$/],
    ];
    for (const [query, message] of cases) {
      const res = await get(`/resources?${query}`);
      const body = (await res.json()) as { message?: string };
      if (query === 'module[x]=1') {
        t.ok(res.status === 200 || res.status === 400, `${query}: ${res.status}`);
        continue;
      }
      t.equal(res.status, 400, query);
      t.match(body.message, message, query);
      t.notMatch(body.message, DUMP, `${query}: no parser dump`);
      t.notMatch(body.message, STACK, `${query}: no stack`);
    }
  });
});
