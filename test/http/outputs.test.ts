import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { STATE_NAME_RULE } from '../../src/events/state-name.js';
import { encryptedDocument } from '../support/go-client.js';
import { checkAnswer, runHostileCases, sendRaw, type HostileRequest, type RawReply } from '../support/hostile.js';
import { basicAuth, PASSWORD, startServer, USER, type TestServer } from '../support/server.js';

/**
 * Issue 10, item 3: GET /states/NAME/outputs with sensitive values left out for `outputs`-only
 * callers, and GET /states/NAME/outputs/OUTPUT, one output as JSON or (Accept: text/plain) bare.
 *
 * The state is written by hand as Terraform indents it, with what a re-serialisation would change:
 * a 30-digit number, escapes, a decimal written `1.50`. Every answer is compared as exact bytes.
 */

const LINEAGE = 'c0ffee00-0000-4000-8000-0000000000f1';
const BIG = '123456789012345678901234567890';

// One output per kind, as Terraform 1.x writes them; `db_password` is sensitive, `lock` and `a/b` are
// names that look like path syntax, `ünï` is not ASCII.
const OUTPUTS = `{
    "api_url": {
      "value": "https://api.example.com/v1?q=\\"x\\"&t=\\u00e9\\ud83d\\ude00",
      "type": "string"
    },
    "big": {
      "value": ${BIG},
      "type": "number"
    },
    "enabled": {
      "value": true,
      "type": "bool"
    },
    "zones": {
      "value": [
        "a",
        "b c"
      ],
      "type": [
        "list",
        "string"
      ]
    },
    "tags": {
      "value": {
        "env": "prod",
        "ratio": 1.50
      },
      "type": [
        "object",
        {
          "env": "string",
          "ratio": "number"
        }
      ]
    },
    "nothing": {
      "value": null,
      "type": "string"
    },
    "db_password": {
      "value": "s3cr3t {\\"not\\": \\"json\\"}",
      "type": "string",
      "sensitive": true
    },
    "lock": {
      "value": "a lock output",
      "type": "string"
    },
    "a/b": {
      "value": "slashed",
      "type": "string"
    },
    "ünï": {
      "value": "unicode",
      "type": "string"
    }
  }`;

/** What an `outputs`-only caller gets: db_password without its value, every other byte as written. */
const REDACTED = OUTPUTS.replace(
  `"db_password": {
      "value": "s3cr3t {\\"not\\": \\"json\\"}",
      "type": "string",`,
  `"db_password": {
      "type": "string",`,
);

const stateOf = (serial: number, outputs: string): Buffer =>
  Buffer.from(`{
  "version": 4,
  "terraform_version": "1.9.8",
  "serial": ${serial},
  "lineage": "${LINEAGE}",
  "outputs": ${outputs},
  "resources": [],
  "check_results": null
}
`);

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

interface Callers {
  /** outputs on app*, enc, team-a/** */
  readonly outputs: string;
  /** read on * */
  readonly reader: string;
  /** read on other-* only: no role on app */
  readonly stranger: string;
}

const fixture = async (t: Test, server: TestServer): Promise<Callers> => {
  const call = async (method: string, path: string, body: unknown) => {
    const reply = await server.request(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await reply.text();
    if (reply.status >= 300) throw new Error(`fixture: ${method} ${path}: ${reply.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const token = async (name: string, grants: ReadonlyArray<readonly [string, string]>) => {
    const secret = String((await call('POST', '/access/tokens', { name })).secret);
    for (const [role, glob] of grants) await call('POST', '/access/grants', { role, subject: `token:${name}`, glob });
    return `Bearer ${secret}`;
  };
  const callers = {
    outputs: await token('outputs-only', [
      ['outputs', 'app*'],
      ['outputs', 'enc'],
      ['outputs', 'team-a/**'],
    ]),
    reader: await token('reader', [['read', '*']]),
    stranger: await token('stranger', [['read', 'other-*']]),
  };
  for (const [name, body] of [
    ['app', stateOf(1, '{}')],
    ['app', stateOf(2, OUTPUTS)],
    ['enc', encryptedDocument(1)],
    ['team-a/prod', stateOf(7, OUTPUTS)],
    ['app-empty', stateOf(1, '{}')],
  ] as const) {
    const reply = await server.request(`/states/${name}`, { method: 'POST', body: new Uint8Array(body) });
    t.equal(reply.status, 200, `fixture: push ${name}: ${await reply.text()}`);
  }
  return callers;
};

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly body: string;
}

const get = async (server: TestServer, path: string, auth: string | undefined, headers: Record<string, string> = {}): Promise<Answer> => {
  const reply = await (auth === undefined ? server.request(path, { headers }) : fetch(`${server.baseUrl}${path}`, { headers: { ...headers, authorization: auth } }));
  return { status: reply.status, type: reply.headers.get('content-type'), body: await reply.text() };
};

const ok = (body: string, type = JSON_TYPE): Answer => ({ status: 200, type, body });
const failed = (status: number, error: string, message: string): Answer => ({ status, type: JSON_TYPE, body: JSON.stringify({ error, message }) });
const listing = (name: string, version: number, serial: number, outputs: string) =>
  ok(`{"name":${JSON.stringify(name)},"version":${version},"serial":${serial},"lineage":"${LINEAGE}","outputs":${outputs}}`);

t.test('outputs', async (t) => {
  const server = await startServer(t);
  const callers = await fixture(t, server);
  const as = (who: keyof Callers | 'alice', path: string, headers?: Record<string, string>) => get(server, path, who === 'alice' ? undefined : callers[who], headers);
  const plain = { accept: 'text/plain' };

  t.test('GET /states/NAME/outputs: values for readers, sensitive ones left out for outputs-only callers', async (t) => {
    t.strictSame(await as('reader', '/states/app/outputs'), listing('app', 2, 2, OUTPUTS), 'a reader: byte for byte as written');
    t.strictSame(await as('alice', '/states/app/outputs'), listing('app', 2, 2, OUTPUTS), 'an admin: the same');
    const redacted = await as('outputs', '/states/app/outputs');
    t.strictSame(redacted, listing('app', 2, 2, REDACTED), 'outputs-only: db_password without its value, every other byte as written');
    t.notOk(redacted.body.includes('s3cr3t'), 'the sensitive value is nowhere');
    t.ok(redacted.body.includes(`"value": ${BIG},`), 'the 30-digit number keeps every digit');
    const parsed = JSON.parse(redacted.body) as { outputs: Record<string, unknown> };
    t.strictSame(parsed.outputs.db_password, { type: 'string', sensitive: true }, 'sensitive, no value');
    t.strictSame(await as('outputs', '/states/app-empty/outputs'), listing('app-empty', 1, 1, '{}'), 'no outputs: {}');
  });

  t.test('GET /states/NAME/outputs/OUTPUT as JSON: compact, every number as written', async (t) => {
    const one = (name: string, type: string, value: string, sensitive = false) =>
      ok(`{"name":${JSON.stringify(name)},"type":${type},"sensitive":${sensitive},"value":${value}}`);
    const expected: Array<[string, Answer]> = [
      ['api_url', one('api_url', '"string"', '"https://api.example.com/v1?q=\\"x\\"&t=\\u00e9\\ud83d\\ude00"')],
      ['big', one('big', '"number"', BIG)],
      ['enabled', one('enabled', '"bool"', 'true')],
      ['zones', one('zones', '["list","string"]', '["a","b c"]')],
      ['tags', one('tags', '["object",{"env":"string","ratio":"number"}]', '{"env":"prod","ratio":1.50}')],
      ['nothing', one('nothing', '"string"', 'null')],
    ];
    for (const [name, answer] of expected) {
      t.strictSame(await as('outputs', `/states/app/outputs/${name}`), answer, `${name}, as an outputs-only caller`);
      t.strictSame(await as('reader', `/states/app/outputs/${name}`), answer, `${name}, as a reader`);
    }
    t.strictSame(
      (JSON.parse((await as('outputs', '/states/app/outputs/api_url')).body) as { value: unknown }).value,
      'https://api.example.com/v1?q="x"&t=é😀',
      'the string decodes as JSON',
    );
    const reply = await fetch(`${server.baseUrl}/states/app/outputs/big`, { headers: { authorization: callers.outputs } });
    t.equal(reply.headers.get('x-state-version'), '2', 'X-State-Version names the version read');
  });

  t.test('GET /states/NAME/outputs/OUTPUT with Accept: text/plain: the bare value', async (t) => {
    const expected: Array<[string, string]> = [
      ['api_url', 'https://api.example.com/v1?q="x"&t=é😀'],
      ['big', BIG],
      ['enabled', 'true'],
      ['zones', '["a","b c"]'],
      ['tags', '{"env":"prod","ratio":1.50}'],
      ['nothing', 'null'],
      ['lock', 'a lock output'],
    ];
    for (const [name, text] of expected) {
      t.strictSame(await as('outputs', `/states/app/outputs/${name}`, plain), ok(text, TEXT_TYPE), name);
    }
    t.strictSame(await as('reader', '/states/app/outputs/db_password', plain), ok('s3cr3t {"not": "json"}', TEXT_TYPE), 'a sensitive one, to a reader');
    t.strictSame(await as('outputs', '/states/app/outputs/big', { accept: 'text/*' }), ok(BIG, TEXT_TYPE), 'text/* asks for it too');
    t.strictSame(
      await as('outputs', '/states/app/outputs/big', { accept: 'application/json;q=0.5, text/plain' }),
      ok(BIG, TEXT_TYPE),
      'text/plain preferred over JSON',
    );
    t.strictSame(
      await as('outputs', '/states/app/outputs/big', { accept: 'text/plain;q=0.1, application/json' }),
      ok(`{"name":"big","type":"number","sensitive":false,"value":${BIG}}`),
      'JSON preferred over text/plain',
    );
    t.strictSame(
      await as('outputs', '/states/app/outputs/big', { accept: 'image/png' }),
      ok(`{"name":"big","type":"number","sensitive":false,"value":${BIG}}`),
      'an Accept the route cannot give: JSON, as every route answers',
    );
  });

  t.test('a sensitive output: refused to outputs-only callers, served to readers', async (t) => {
    const refusal = failed(403, 'forbidden', 'output "db_password" of state app is sensitive: its value needs the read role; token:outputs-only has outputs');
    t.strictSame(await as('outputs', '/states/app/outputs/db_password'), refusal, 'JSON');
    t.strictSame(await as('outputs', '/states/app/outputs/db_password', plain), refusal, 'text/plain');
    const served = ok('{"name":"db_password","type":"string","sensitive":true,"value":"s3cr3t {\\"not\\": \\"json\\"}"}');
    t.strictSame(await as('reader', '/states/app/outputs/db_password'), served, 'a reader');
    t.strictSame(await as('alice', '/states/app/outputs/db_password'), served, 'an admin');
  });

  t.test('unknown outputs, states and callers', async (t) => {
    t.strictSame(await as('outputs', '/states/app/outputs/nope'), failed(404, 'not_found', 'state app has no output "nope"'));
    t.strictSame(await as('reader', '/states/app-empty/outputs/big'), failed(404, 'not_found', 'state app-empty has no output "big"'));
    t.strictSame(await as('reader', '/states/nowhere/outputs/big'), failed(404, 'not_found', 'state nowhere has no current version'));
    const hidden = failed(404, 'not_found', 'state app does not exist, or this identity has no role on it');
    t.strictSame(await as('stranger', '/states/app/outputs/big'), hidden, 'no role: hidden');
    t.strictSame(await as('stranger', '/states/app/outputs/nope'), hidden, 'no role: the same for an output that does not exist');
  });

  t.test('an encrypted state: as GET /states/NAME/outputs answers', async (t) => {
    t.strictSame(
      await as('outputs', '/states/enc/outputs/x'),
      failed(403, 'forbidden', "state enc is encrypted with OpenTofu's state encryption: the server cannot read its outputs, so reading it needs the read role"),
    );
    const unreadable = failed(422, 'encrypted_state', "state enc is encrypted with OpenTofu's state encryption: the server cannot read its outputs; read the whole state instead");
    t.strictSame(await as('reader', '/states/enc/outputs/x'), unreadable);
    t.strictSame(await as('reader', '/states/enc/outputs/x', plain), unreadable);
  });

  t.test('nested state names and output names that look like paths', async (t) => {
    const apiUrl = (await as('outputs', '/states/app/outputs/api_url')).body;
    t.strictSame(await as('outputs', '/states/team-a/prod/outputs/api_url'), ok(apiUrl), 'team-a/prod/outputs/api_url');
    t.strictSame(await as('outputs', '/states/team-a%2Fprod/outputs/api_url'), ok(apiUrl), 'team-a%2Fprod/outputs/api_url');
    t.strictSame(await as('outputs', '/states/team-a/prod/outputs/big', plain), ok(BIG, TEXT_TYPE));
    t.strictSame(await as('outputs', '/states/team-a/prod/outputs'), listing('team-a/prod', 1, 7, REDACTED), 'the listing of a nested name');
    t.strictSame(await as('outputs', '/states/team-a/prod/outputs/lock', plain), ok('a lock output', TEXT_TYPE), 'an output named lock');
    t.strictSame(await as('outputs', '/states/app/outputs/lock', plain), ok('a lock output', TEXT_TYPE), 'an output named lock, plain name');
    t.strictSame(await as('outputs', '/states/team-a/prod/outputs/a%2Fb', plain), ok('slashed', TEXT_TYPE), 'an output named a/b, as a%2Fb');
    t.strictSame(
      await as('outputs', '/states/team-a/prod/outputs/%C3%BCn%C3%AF'),
      ok('{"name":"ünï","type":"string","sensitive":false,"value":"unicode"}'),
      'a non-ASCII output name',
    );
    t.strictSame(await as('outputs', '/states/team-a/prod/outputs/a/b'), failed(404, 'not_found', 'no route for GET /states/team-a%2Fprod/outputs/a/b'), 'a/b unencoded is two segments');
    t.strictSame(
      await as('outputs', '/states/team-a/prod/outputs/db_password'),
      failed(403, 'forbidden', 'output "db_password" of state team-a/prod is sensitive: its value needs the read role; token:outputs-only has outputs'),
    );
  });

  t.test('large values: served whole up to the outputs limit, 422 beyond it', async (t) => {
    const MB = 1024 * 1024;
    // 4 MiB of text with an escape every 64 bytes: decoded for text/plain, as written for JSON.
    const line = `${'x'.repeat(60)}\\n\\"`;
    const written = line.repeat((4 * MB) / 64);
    const text = written.replaceAll('\\n', '\n').replaceAll('\\"', '"');
    const push = async (name: string, value: string) => {
      const reply = await server.request(`/states/${name}`, { method: 'POST', body: new Uint8Array(stateOf(1, `{"blob": {"value": "${value}", "type": "string"}, "n": {"value": ${BIG}}}`)) });
      t.equal(reply.status, 200, `push ${name}: ${await reply.text()}`);
    };
    await push('app-large', written);
    const plainReply = await as('outputs', '/states/app-large/outputs/blob', plain);
    t.equal(plainReply.status, 200);
    t.ok(plainReply.body === text, `the bare text, ${plainReply.body.length} characters`);
    const jsonReply = await as('outputs', '/states/app-large/outputs/blob');
    t.ok(jsonReply.body === `{"name":"blob","type":"string","sensitive":false,"value":"${written}"}`, 'JSON: the value as written');
    await push('app-huge', 'y'.repeat(64 * MB));
    const tooLarge = failed(422, 'outputs_too_large', 'the outputs of state app-huge are larger than 67108864 bytes; reading them needs the read role and the whole state');
    t.strictSame(await as('outputs', '/states/app-huge/outputs/n'), tooLarge, 'one output of outputs over 64 MiB');
    t.strictSame(await as('reader', '/states/app-huge/outputs/n', plain), tooLarge, 'the same for a reader');
  });

  t.test('hostile input on GET /states/NAME/outputs/OUTPUT', async (t) => {
    const BAD_PATH = failed(400, 'bad_request', 'the request could not be read (a path segment that is not valid percent-encoded UTF-8, say)');
    const badName = (message: string) => failed(400, 'invalid_output_name', message);
    const subResource = failed(400, 'invalid_name', '"outputs" names a sub-resource and cannot be a segment of a state name');
    // Node's parser refuses raw non-ASCII bytes in the request target before any route.
    const NOT_HTTP = failed(400, 'bad_request', 'the request is not valid HTTP/1.1');
    const hidden = failed(404, 'not_found', 'state app does not exist, or this identity has no role on it');
    const credentials = 'credentials are required: HTTP Basic (a user and password; or user name token or oidc with an API token or a JWT as the password), or Authorization: Bearer <token or JWT>';
    const req = (path: string, extra: Partial<HostileRequest> = {}): HostileRequest => ({ method: 'GET', path, auth: callers.outputs, ...extra });
    const cases: Array<{ kind: string; request: HostileRequest; expect: Answer | { readonly status: number } }> = [
      { kind: 'a name that is not UTF-8 (%FF)', request: req('/states/app/outputs/%FF'), expect: BAD_PATH },
      { kind: 'an overlong UTF-8 slash (%C0%AF)', request: req('/states/app/outputs/%C0%AF'), expect: BAD_PATH },
      { kind: 'a UTF-16 surrogate as UTF-8 (%ED%A0%80)', request: req('/states/app/outputs/%ED%A0%80'), expect: BAD_PATH },
      { kind: 'a broken percent escape', request: req('/states/app/outputs/a%2'), expect: BAD_PATH },
      { kind: 'a raw 0xFF byte in the name', request: req('/states/app/outputs/a\xffb'), expect: NOT_HTTP },
      { kind: 'raw UTF-8 (not percent-encoded) in the name', request: req('/states/app/outputs/\xc3\xbcn\xc3\xaf'), expect: NOT_HTTP },
      { kind: 'a NUL', request: req('/states/app/outputs/api%00url'), expect: badName('the output name may not contain NUL (%00)') },
      { kind: 'a NUL alone', request: req('/states/app/outputs/%00'), expect: badName('the output name may not contain NUL (%00)') },
      { kind: 'a name of 1025 bytes', request: req(`/states/app/outputs/${'a'.repeat(1025)}`), expect: badName('the output name must be at most 1024 bytes of UTF-8; got 1025') },
      { kind: 'a name of 1026 bytes in 513 two-byte characters', request: req(`/states/app/outputs/${'%C3%A9'.repeat(513)}`), expect: badName('the output name must be at most 1024 bytes of UTF-8; got 1026') },
      {
        kind: 'a name of 1024 bytes that does not exist',
        request: req(`/states/app/outputs/${'a'.repeat(1024)}`),
        expect: failed(404, 'not_found', `state app has no output "${'a'.repeat(64)}..."`),
      },
      { kind: 'a name with a quote and a control character', request: req('/states/app/outputs/%22%0A%1B'), expect: failed(404, 'not_found', 'state app has no output "\\"\\n\\u001b"') },
      { kind: 'a huge Accept', request: req('/states/app/outputs/big', { headers: [['Accept', `${'text/x;q=0.1, '.repeat(500)}text/plain`]] }), expect: ok(BIG, TEXT_TYPE) },
      { kind: 'a malformed Accept', request: req('/states/app/outputs/big', { headers: [['Accept', ';;;q=,,text/plain;q=x']] }), expect: { status: 200 } },
      { kind: 'an Accept of nothing acceptable', request: req('/states/app/outputs/big', { headers: [['Accept', 'application/xml']] }), expect: ok(`{"name":"big","type":"number","sensitive":false,"value":${BIG}}`) },
      { kind: 'no credentials', request: req('/states/app/outputs/big', { auth: null }), expect: failed(401, 'unauthorized', credentials) },
      { kind: 'wrong credentials', request: req('/states/app/outputs/big', { auth: basicAuth('token', 'slt_wrong') }), expect: failed(401, 'unauthorized', 'the credentials were refused: that is not a state-ledger token') },
      { kind: 'no role (read elsewhere)', request: req('/states/app/outputs/big', { auth: callers.stranger }), expect: hidden },
      { kind: 'no role, a bad output name', request: req('/states/app/outputs/%00', { auth: callers.stranger }), expect: hidden },
      { kind: 'a sensitive output, as outputs-only', request: req('/states/app/outputs/db_password'), expect: failed(403, 'forbidden', 'output "db_password" of state app is sensitive: its value needs the read role; token:outputs-only has outputs') },
      { kind: 'an invalid state name', request: req('/states/.app/outputs/big'), expect: failed(400, 'invalid_name', `name must be ${STATE_NAME_RULE}; got ".app"`) },
      { kind: 'POST', request: req('/states/app/outputs/big', { method: 'POST', body: '{}' }), expect: subResource },
      { kind: 'PUT', request: req('/states/app/outputs/big', { method: 'PUT', body: '{}' }), expect: subResource },
      { kind: 'DELETE', request: req('/states/app/outputs/big', { method: 'DELETE' }), expect: subResource },
      { kind: 'LOCK', request: req('/states/app/outputs/big', { method: 'LOCK', body: '{"ID":"x"}' }), expect: subResource },
      { kind: 'DELETE of an output named lock', request: req('/states/app/outputs/lock', { method: 'DELETE', auth: undefined }), expect: subResource },
    ];
    const snapshot = async () => {
      const read = async (path: string) => {
        const reply = await server.request(path);
        return { status: reply.status, sha256: createHash('sha256').update(Buffer.from(await reply.arrayBuffer())).digest('hex') };
      };
      const { rows } = await server.db.pool.query<{ events: string }>('SELECT count(*)::text AS events FROM events');
      return { events: rows[0]?.events, app: await read('/states/app'), versions: await read('/states/app/versions'), lock: await read('/states/app/lock') };
    };
    const check = (t: Test, reply: RawReply, c: (typeof cases)[number]) => checkAnswer(t, reply, c.expect);
    await runHostileCases(t, 'the cases', server.baseUrl, cases, {
      snapshot,
      check,
      unchanged: "state app's bytes, versions and lock, and the event count",
      stillServing: async (t) => {
        t.strictSame(await as('outputs', '/states/app/outputs/big', plain), ok(BIG, TEXT_TYPE), 'still serving');
      },
    });

    t.test('the checks can fail: a push through the same path shows in the snapshot', async (t) => {
      const before = await snapshot();
      const reply = await sendRaw(server.baseUrl, { method: 'POST', path: '/states/app', body: stateOf(3, OUTPUTS), auth: basicAuth(USER, PASSWORD) });
      t.equal(reply.status, 200, reply.body.toString());
      t.notSame(await snapshot(), before, 'the snapshot moved');
      t.strictSame(await as('outputs', '/states/app/outputs/big', plain), ok(BIG, TEXT_TYPE), 'and the outputs still read');
    });
  });
});
